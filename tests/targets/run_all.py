"""Start every fake downstream system at once, for a local demo of the fan-out.

``python -m tests.targets.run_all --base-port 8101`` starts the webhook receiver, PMS,
marketplace, Slack and Microsoft Graph fakes on consecutive ports (8101-8105), prints one JSON
line per server with its URLs and demo credentials, then one JSON line per request received,
each followed by the payload it carried, pretty-printed and indented (at most ``PAYLOAD_LIMIT``
characters of it), until Ctrl-C (SIGINT) or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any
from urllib.parse import parse_qsl

from tests.targets.fake_base import FakeServer
from tests.targets.graph_server import GraphServer
from tests.targets.marketplace_server import MarketplaceServer
from tests.targets.pms_server import PMSServer
from tests.targets.slack_server import SlackServer
from tests.targets.webhook_contract import SCHEMES, STANDARD
from tests.targets.webhook_server import DEFAULT_SECRET, WebhookServer

DEMO_GRAPH_REFRESH_TOKEN = "demo-graph-refresh-token"
# Enough for a whole statement, short enough that a big batch does not flood the terminal.
PAYLOAD_LIMIT = 2000
PAYLOAD_INDENT = "    "
# Form fields that carry credentials (OAuth token requests): shown masked, even the demo ones.
_CREDENTIAL_WORDS = ("secret", "password", "token", "assertion")
_print_lock = threading.Lock()


def emit(record: dict[str, Any], payload: str | None = None) -> None:
    """One JSON line, then the payload under it; under one lock, so that the stand-ins' lines never
    interleave."""
    with _print_lock:
        print(json.dumps(record), flush=payload is None)
        if payload is not None:
            print(payload, flush=True)


def payload_text(body: bytes, content_type: str | None, limit: int = PAYLOAD_LIMIT) -> str | None:
    """A request body as a person reads it, indented: JSON pretty-printed, a form as the JSON object
    of its fields, other text as is, anything else as its size; None when there is no body. The
    text is cut at ``limit`` characters, saying how many more there were. Never raises: it runs
    in a stand-in's request handler, before the answer is sent."""
    if not body:
        return None
    try:
        text = _readable(body, (content_type or "").split(";", 1)[0].strip().lower())
    except Exception as exc:  # an odd body must cost its printout, never the request
        text = f"<{len(body)} bytes, not shown: {type(exc).__name__}>"
    if len(text) > limit:
        text = f"{text[:limit]}\n\u2026 ({len(text) - limit:,} more characters)"
    return "\n".join(PAYLOAD_INDENT + line for line in text.splitlines())


def _readable(body: bytes, media_type: str) -> str:
    if media_type == "application/x-www-form-urlencoded":
        fields = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        shown = {
            name: "***" if any(word in name.lower() for word in _CREDENTIAL_WORDS) else value
            for name, value in fields
        }
        return json.dumps(shown, indent=2, ensure_ascii=False)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return f"<{len(body)} bytes of {media_type or 'unknown type'}, not text>"
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def build(
    host: str, base_port: int, webhook_secret: str, webhook_signature: str = STANDARD
) -> list[tuple[str, WebhookServer | FakeServer]]:
    """The servers, in port order (``base_port`` 0: every server gets a free port)."""

    def port(offset: int) -> int:
        return base_port + offset if base_port else 0

    return [
        ("webhook", WebhookServer(webhook_secret, host, port(0), signature=webhook_signature)),
        ("pms", PMSServer(host=host, port=port(1))),
        ("marketplace", MarketplaceServer(host=host, port=port(2))),
        ("slack", SlackServer(host=host, port=port(3))),
        ("graph", GraphServer(host=host, port=port(4))),
    ]


def describe(server: WebhookServer | FakeServer) -> dict[str, Any]:
    if isinstance(server, WebhookServer):
        return {"url": server.url, "secret": server.secret, "signature": server.signature}
    details = server.describe()  # type: ignore[attr-defined]
    if isinstance(server, GraphServer):
        details["refresh_token"] = server.issue_refresh_token(value=DEMO_GRAPH_REFRESH_TOKEN)
    return details


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--base-port", type=int, default=8101, help="first port (0: free ports)")
    parser.add_argument("--webhook-secret", default=DEFAULT_SECRET)
    parser.add_argument(
        "--webhook-signature", choices=SCHEMES, default=STANDARD, help="the webhook target's signature"
    )
    args = parser.parse_args(argv)
    # A payload's characters must never fail to print (a non-UTF-8 terminal): escape them instead.
    sys.stdout.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    servers = build(args.host, args.base_port, args.webhook_secret, args.webhook_signature)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    started: list[WebhookServer | FakeServer] = []
    try:
        for name, server in servers:
            server.on_answer = lambda request, name=name: emit(  # type: ignore[assignment]
                {"event": "request", **request.summary(), "server": name},
                payload_text(request.body, request.header("Content-Type")),
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
