"""The one-command demo: ``python -m tests.targets.run_all`` serves every fake and logs requests."""

from __future__ import annotations

import json
import queue
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import requests

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NAMES = ["webhook", "pms", "marketplace", "slack", "graph"]


def consecutive_free_ports(count: int) -> int:
    """A base port whose ``count`` consecutive ports were free a moment ago."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count > 65535:
            continue
        sockets: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no run of free ports found")


def reader(stream: IO[str]) -> queue.Queue[dict[str, Any]]:
    lines: queue.Queue[dict[str, Any]] = queue.Queue()

    def pump() -> None:
        for line in stream:
            if line.startswith("{"):  # a request's summary line; the payload follows, indented
                lines.put(json.loads(line))

    threading.Thread(target=pump, daemon=True).start()
    return lines


def test_run_all_starts_every_fake_on_consecutive_ports_and_logs_requests() -> None:
    base = consecutive_free_ports(len(NAMES))
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.targets.run_all", "--base-port", str(base)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = reader(process.stdout)
        ready = {}
        for _ in NAMES:
            record = lines.get(timeout=20)
            ready[record["server"]] = record
        assert list(ready) == NAMES
        assert [ready[name]["url"].split(":")[2].split("/")[0] for name in NAMES] == [
            str(base + offset) for offset in range(len(NAMES))
        ]
        pms = ready["pms"]
        token = requests.post(
            pms["token_url"],
            data={"grant_type": "client_credentials"},
            timeout=5,
            auth=(pms["client_id"], pms["client_secret"]),
        )
        assert token.status_code == 200
        logged = lines.get(timeout=10)
        assert (logged["event"], logged["server"], logged["route"], logged["status"]) == (
            "request",
            "pms",
            "token",
            200,
        )
        assert ready["graph"]["refresh_token"] and ready["slack"]["bot_token"].startswith("xoxb-")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
