"""A fake target records when a request arrived, not when it got round to reading it.

The rate-limit tests count ``arrived_at`` in any one second, as a target's own limiter counts
request starts. The fake servers run in the test process: on a loaded machine a handler thread
may wait for a core (or the interpreter lock) long after the request came, and a time taken then
bunches requests that came spaced (seen: a receiver 232 ms behind, 24 arrivals counted in a second
in which the worker had sent 20). A request whose headers come late shows the same lag on an idle
machine: its arrival is when its first bytes came."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest

from tests.targets.local_server import LocalServer
from tests.targets.slack_server import SlackServer
from tests.targets.webhook_server import WebhookServer

LATE_BY = 0.3  # how long after its request line the rest of the request comes


@pytest.fixture(params=[lambda: WebhookServer(secret="s"), SlackServer], ids=["webhook", "fake-api"])
def server(request: pytest.FixtureRequest) -> Iterator[LocalServer]:
    make: Callable[[], LocalServer] = request.param
    with make() as started:
        yield started


def test_a_request_arrives_when_its_first_bytes_come_not_when_the_handler_has_read_it(server):
    body = b'{"text": "hi"}'
    with socket.create_connection((server.host, server.port), timeout=5) as client:
        sent = time.time()
        client.sendall(b"POST /hook HTTP/1.0\r\n")
        time.sleep(LATE_BY)
        client.sendall(b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        client.recv(65536)  # the answer: the request is recorded
    (recorded,) = server.requests
    assert sent <= recorded.arrived_at < sent + LATE_BY / 3, recorded.arrived_at - sent
