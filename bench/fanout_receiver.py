"""The fan-out bench's target: the tests' webhook server, answering 200, logging arrivals.

``python -m bench.fanout_receiver --port N --out FILE`` serves ``/hook`` on 127.0.0.1 with
the secret from ``BENCH_WEBHOOK_SECRET`` (the one the bench's targets reference), checks
the webhook contract (``tests/targets/webhook_contract.py``: signature, headers, body) and
writes one JSON line per request to FILE: the Idempotency-Key, ``arrived_at`` (epoch
seconds, taken when the request was read), the answer, a contract violation if any, and
``statement.stored`` from the delivered body. Stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from typing import Any

from tests.targets.webhook_server import RecordedRequest, WebhookServer, ok


def arrival_line(request: RecordedRequest) -> dict[str, Any]:
    payload = request.json if isinstance(request.json, dict) else {}
    statement = payload.get("statement") if isinstance(payload.get("statement"), dict) else {}
    return {
        "key": request.idempotency_key,
        "arrived_at": request.arrived_at,
        "status": request.status,
        "rejected": request.rejected,
        "event": payload.get("event"),
        "stored": (statement or {}).get("stored"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    secret = os.environ.get("BENCH_WEBHOOK_SECRET")
    if not secret:
        raise SystemExit("BENCH_WEBHOOK_SECRET is not set")
    server = WebhookServer(secret=secret, host="127.0.0.1", port=args.port, path="/hook")
    server.set_default(ok())
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    lock = threading.Lock()
    with open(args.out, "a", buffering=1) as out:

        def record(request: RecordedRequest) -> None:
            line = json.dumps(arrival_line(request))
            with lock:
                out.write(line + "\n")

        server.on_answer = record
        server.start()
        print(f"listening on {server.url}", flush=True)
        # A timed wait: a signal that lands in a handler thread still gets the main thread to run
        # the Python handler within half a second (an untimed wait could block forever).
        while not done.wait(0.5):
            pass
        server.stop()


if __name__ == "__main__":
    main()
