"""Start every fake downstream system at once, for a local demo of the fan-out.

``python -m tests.targets.run_all --base-port 8101`` starts the webhook receiver, PMS,
marketplace, Slack and Microsoft Graph fakes on consecutive ports (8101-8105), prints one JSON
line per server with its URLs and demo credentials, then one JSON line per request received,
until Ctrl-C (SIGINT) or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from tests.targets.fake_base import FakeServer
from tests.targets.graph_server import GraphServer
from tests.targets.marketplace_server import MarketplaceServer
from tests.targets.pms_server import PMSServer
from tests.targets.slack_server import SlackServer
from tests.targets.webhook_server import DEFAULT_SECRET, WebhookServer

DEMO_GRAPH_REFRESH_TOKEN = "demo-graph-refresh-token"
_print_lock = threading.Lock()


def emit(record: dict[str, Any]) -> None:
    with _print_lock:
        print(json.dumps(record), flush=True)


def build(host: str, base_port: int, webhook_secret: str) -> list[tuple[str, WebhookServer | FakeServer]]:
    """The servers, in port order (``base_port`` 0: every server gets a free port)."""

    def port(offset: int) -> int:
        return base_port + offset if base_port else 0

    return [
        ("webhook", WebhookServer(webhook_secret, host, port(0))),
        ("pms", PMSServer(host=host, port=port(1))),
        ("marketplace", MarketplaceServer(host=host, port=port(2))),
        ("slack", SlackServer(host=host, port=port(3))),
        ("graph", GraphServer(host=host, port=port(4))),
    ]


def describe(server: WebhookServer | FakeServer) -> dict[str, Any]:
    if isinstance(server, WebhookServer):
        return {"url": server.url, "secret": server.secret}
    details = server.describe()  # type: ignore[attr-defined]
    if isinstance(server, GraphServer):
        details["refresh_token"] = server.issue_refresh_token(value=DEMO_GRAPH_REFRESH_TOKEN)
    return details


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--base-port", type=int, default=8101, help="first port (0: free ports)")
    parser.add_argument("--webhook-secret", default=DEFAULT_SECRET)
    args = parser.parse_args(argv)
    servers = build(args.host, args.base_port, args.webhook_secret)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    started: list[WebhookServer | FakeServer] = []
    try:
        for name, server in servers:
            server.on_answer = lambda request, name=name: emit(  # type: ignore[assignment]
                {"event": "request", **request.summary(), "server": name}
            )
            try:
                server.start()
            except OSError as exc:
                print(f"cannot listen for {name} on {args.host}:{server.port}: {exc}", file=sys.stderr)
                return 1
            started.append(server)
        for name, server in servers:
            emit({"event": "listening", "server": name, **describe(server)})
        done.wait()
    finally:
        for server in started:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
