"""What the one-command demo prints for a request: the JSON summary line, then the payload the
stand-in received, pretty-printed and indented, cut at ``PAYLOAD_LIMIT`` characters with a count
of the rest; forms, plain text and binary bodies print too (forms with credentials masked)."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import requests

from tests.targets.run_all import PAYLOAD_INDENT, PAYLOAD_LIMIT, payload_text

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SERVERS = 5


def pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


def indented(text: str) -> list[str]:
    return [PAYLOAD_INDENT + line for line in text.splitlines()]


def run_stand_ins_and_send(payloads: list[Any], tmp_path: Path) -> list[str]:
    """Start ``run_all`` on free ports, POST each payload as JSON to the PMS stand-in, stop it
    (SIGINT) and return everything it printed, line by line."""
    stderr = (tmp_path / "stderr.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.targets.run_all", "--base-port", "0"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        encoding="utf-8",
    )
    try:
        assert process.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=pump, args=(process.stdout, lines), daemon=True)
        reader.start()
        printed: list[str] = []
        for _ in range(SERVERS):
            line = lines.get(timeout=20)
            assert line is not None, (tmp_path / "stderr.log").read_text()
            printed.append(line)
        pms = next(json.loads(line) for line in printed if json.loads(line)["server"] == "pms")
        for payload in payloads:
            # No token: a 401, and the stand-in still prints what it received.
            requests.post(f"{pms['url']}/api/v1/learning-events", json=payload, timeout=10)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
        reader.join(timeout=10)
        while (line := lines.get(timeout=1)) is not None:
            printed.append(line)
        return printed[SERVERS:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        if process.stdout is not None:
            process.stdout.close()
        stderr.close()


def test_a_stand_in_prints_the_json_payload_it_received_pretty_under_its_summary_line(tmp_path):
    small = {"statementId": "s-1", "courseName": "Sécurité 101", "score": 92, "tags": ["a", "b"]}
    big = {"evidence": [{"statementId": f"s-{n}", "note": "x" * 40} for n in range(200)]}

    printed = run_stand_ins_and_send([small, big], tmp_path)

    summaries = [n for n, line in enumerate(printed) if line.startswith("{")]
    assert len(summaries) == 2, printed
    first, second = (json.loads(printed[n]) for n in summaries)
    assert (first["event"], first["server"], first["method"]) == ("request", "pms", "POST")
    pretty = json.dumps(small, indent=2, ensure_ascii=False)
    assert printed[summaries[0] + 1 : summaries[1]] == indented(pretty)

    full = json.dumps(big, indent=2)
    shown = printed[summaries[1] + 1 :]
    assert second["server"] == "pms" and len(full) > PAYLOAD_LIMIT
    assert shown[-1] == f"{PAYLOAD_INDENT}\u2026 ({len(full) - PAYLOAD_LIMIT:,} more characters)"
    assert shown[:-1] == indented(full[:PAYLOAD_LIMIT])


def test_a_form_body_prints_as_its_fields_with_credentials_masked():
    body = b"grant_type=client_credentials&scope=skills.write&client_secret=s3cret&refresh_token=r1"
    text = payload_text(body, "application/x-www-form-urlencoded; charset=utf-8")
    assert text is not None and "s3cret" not in text and "r1" not in text
    assert json.loads(text) == {
        "grant_type": "client_credentials",
        "scope": "skills.write",
        "client_secret": "***",
        "refresh_token": "***",
    }
    assert text.splitlines()[1] == f'{PAYLOAD_INDENT}  "grant_type": "client_credentials",'


def test_bodies_that_are_not_json_print_as_text_or_as_their_size_and_no_body_prints_nothing():
    assert payload_text(b"not json {", "application/json") == f"{PAYLOAD_INDENT}not json {{"
    assert payload_text(b"\xff\xfe\x00binary", "application/octet-stream") == (
        f"{PAYLOAD_INDENT}<9 bytes of application/octet-stream, not text>"
    )
    assert payload_text(b"", "application/json") is None
    assert payload_text(b"x" * (PAYLOAD_LIMIT + 5), None) == (
        f"{PAYLOAD_INDENT}{'x' * PAYLOAD_LIMIT}\n{PAYLOAD_INDENT}\u2026 (5 more characters)"
    )
