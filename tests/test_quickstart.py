"""``bash scripts/quickstart.sh`` (the README's first command) end to end: the demo completion
reaches all five stand-ins; SIGTERM to the script stops every process it started (stand-ins,
sweeper, the server and its autoreloader child) and frees their ports; it starts again and
delivers again; and it refuses to start, naming the port, when one it needs is taken."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.adapters.helpers import live_group_members, restartable_port, wait_until

ROOT = Path(__file__).resolve().parents[1]
STAND_IN_PORTS = range(8101, 8106)
DEMO = {
    "actor": {"mbox": "mailto:ada@example.com", "name": "Ada"},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en-US": "completed"}},
    "object": {
        "id": "https://lms.example.com/courses/safety-101",
        "definition": {"name": {"en-US": "Safety 101"}},
    },
    "result": {"completion": True, "score": {"scaled": 0.92}},
}
# One line per stand-in that received the demo completion's effect.
EFFECTS = (
    '"path": "/hook"',
    "learning-events.create",
    "skills.put",
    "chat.postMessage",
    '"route": "activity"',
)


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def start(tmp_path: Path, port: int, log: Path, **extra_env: str) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items() if key not in ("LRS_ENV", "DATABASE_URL")}
    env |= {
        "LRS_ADDRESS": f"127.0.0.1:{port}",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'quickstart.sqlite3'}",
        **extra_env,
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            ["bash", "scripts/quickstart.sh"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def serving(process: subprocess.Popen[bytes], port: int, log: Path) -> str:
    """Wait until the server answers; the demo credential's secret."""

    def up() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return requests.get(f"http://127.0.0.1:{port}/xapi/about", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    wait_until(up, timeout=180, interval=0.5, message="the quickstart serving")
    return re.findall(r"key demo   secret (\S+)", log.read_text())[-1]


def deliver_demo(port: int, secret: str, log: Path, before: int) -> float:
    """Post the demo completion, wait for it at all five stand-ins; how long the POST took."""
    started = time.monotonic()
    response = requests.post(
        f"http://127.0.0.1:{port}/xapi/statements",
        json=DEMO,
        auth=("demo", secret),
        headers={"X-Experience-API-Version": "1.0.3"},
        timeout=30,
    )
    took = time.monotonic() - started
    assert response.status_code == 200, response.text

    def all_five() -> bool:
        lines = log.read_text().splitlines()[before:]
        return all(any(effect in line and "[downstream]" in line for line in lines) for effect in EFFECTS)

    wait_until(all_five, timeout=60, interval=0.5, message="the demo completion at all five stand-ins")
    return took


def stop(process: subprocess.Popen[bytes], port: int) -> None:
    process.send_signal(signal.SIGTERM)  # the script alone, as Ctrl-C's TERM cousin would
    process.wait(timeout=30)
    wait_until(lambda: not live_group_members(process.pid), timeout=20, message="every child stopped")
    assert all(port_free(p) for p in [port, *STAND_IN_PORTS])


@pytest.mark.skipif(not all(port_free(p) for p in STAND_IN_PORTS), reason="a quickstart is running here")
def test_the_quickstart_delivers_stops_cleanly_starts_again_and_refuses_a_taken_port(tmp_path):
    port, log = restartable_port(), tmp_path / "quickstart.log"  # started twice
    process = start(tmp_path, port, log)
    try:
        deliver_demo(port, serving(process, port, log), log, 0)
    finally:
        stop(process, port)

    # Again, with a sixth target that accepts connections and never answers: the POST does not
    # wait for it (deliveries run off the request), nor do the five stand-ins.
    lines = len(log.read_text().splitlines())
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # never accepted: a request to it waits for its timeout
        targets = json.loads((ROOT / "config" / "demo_targets.json").read_text())
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        secret = {"env": "DEMO_WEBHOOK_SECRET"}
        targets.append({"name": "silent", "adapter": "webhook", "config": {"url": url, "secret": secret}})
        (tmp_path / "targets.json").write_text(json.dumps(targets))
        again = start(tmp_path, port, log, LRS_TARGETS_FILE=str(tmp_path / "targets.json"))
        try:
            took = deliver_demo(port, serving(again, port, log), log, lines)
            assert took < 1.0, f"the POST took {took:.2f} s with a target that does not answer"
        finally:
            stop(again, port)

    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past the stand-in's TIME_WAIT
        squatter.bind(("127.0.0.1", 8103))
        squatter.listen()
        refused = start(tmp_path, port, log)
        assert refused.wait(timeout=30) != 0
    assert "port 8103 (a downstream stand-in) is taken" in log.read_text()
