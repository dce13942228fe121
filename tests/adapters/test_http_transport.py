"""The HTTP seam against a real local server: keep-alive, no redirects, the environment's proxy
settings read once per sending thread (``adapters.http._Client``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from adapters import http
from adapters.base import AdapterError, OutboundRequest


class Recorder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.seen: list[dict] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: Recorder

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.seen.append(
                {
                    "path": self.path,
                    "client_port": self.client_address[1],
                    "body": body,
                    "user_agent": self.headers.get("User-Agent"),
                }
            )
        if self.path.endswith("/moved"):
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
        else:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
        self.end_headers()
        if not self.path.endswith("/moved"):
            self.wfile.write(b"{}")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Recorder]:
    recorder = Recorder()
    thread = threading.Thread(target=recorder.serve_forever, daemon=True)
    thread.start()
    yield recorder
    recorder.shutdown()
    recorder.server_close()


def in_new_thread(function):
    """Run in a fresh sending thread: its client reads the environment as it is now."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(function).result()


def post(url: str) -> OutboundRequest:
    return OutboundRequest(method="POST", url=url, json={"a": 1, "b": "é"}, timeout=5)


def test_one_thread_reuses_one_connection_and_sends_the_json_body(server):
    in_new_thread(lambda: [http.send(post(f"{server.url}/hook")) for _ in range(5)])
    assert len(server.seen) == 5
    assert len({request["client_port"] for request in server.seen}) == 1
    assert {json.loads(request["body"]) == {"a": 1, "b": "é"} for request in server.seen} == {True}
    assert {request["user_agent"] for request in server.seen} == {http.USER_AGENT}


def test_a_redirect_is_an_error_and_is_not_followed(server):
    with pytest.raises(AdapterError) as caught:
        in_new_thread(lambda: http.send(post(f"{server.url}/moved")))
    assert caught.value.status_code == 302 and caught.value.permanent
    assert [request["path"] for request in server.seen] == ["/moved"]


def test_the_environments_proxy_is_used_unless_no_proxy_names_the_host(server, monkeypatch):
    proxy = Recorder()
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        # A proxied plain-http request carries the whole URL in its request line.
        target = "http://target.invalid/hook"
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        in_new_thread(lambda: (http.send(post(target)), http.send(post(f"{server.url}/direct"))))
        assert [request["path"] for request in proxy.seen] == [target]
        assert [request["path"] for request in server.seen] == ["/direct"]
    finally:
        proxy.shutdown()
        proxy.server_close()
