"""Self-tests of the fake webhook receiver: if it were lenient or flaky, the fan-out tests
built on it would prove nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.adapters.helpers import free_port, port_refuses
from tests.targets.webhook_contract import LRS_V1, STANDARD, signature, standard_headers
from tests.targets.webhook_server import WebhookServer, hang, held, ok, refuse, retry_after, status

SECRET = "self-test-secret"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server() -> Iterator[WebhookServer]:
    with WebhookServer(secret=SECRET) as srv:
        yield srv


@pytest.fixture
def lrs_v1_server() -> Iterator[WebhookServer]:
    """A receiver built on the ``X-LRS-Signature`` header (a target with ``"signature": "lrs-v1"``)."""
    with WebhookServer(secret=SECRET, signature=LRS_V1) as srv:
        yield srv


def payload(statement_id: str | None = None, event: str = "statement.stored") -> dict[str, Any]:
    return {"event": event, "statement": {"id": statement_id or str(uuid.uuid4())}, "target": "hr-system"}


def post(
    url: str,
    body: Any = None,
    *,
    key: str | None = None,
    secret: str = SECRET,
    t: int | None = None,
    age: int | None = None,
    headers: dict[str, str | None] | None = None,
    timeout: float = 5,
    method: str = "POST",
    scheme: str = STANDARD,
) -> requests.Response:
    """Send a request the way the engine should, signed by ``scheme`` (valid unless overridden;
    None drops a header). ``age``: sign it as sent that many seconds ago (negative: ahead), read
    from the clock now, not when the tests were collected."""
    if age is not None:
        t = int(time.time()) - age
    raw = json.dumps(payload() if body is None else body).encode()
    key = key or str(uuid.uuid4())
    signed = (
        standard_headers(secret, key, raw, t)
        if scheme == STANDARD
        else {"X-LRS-Signature": signature(secret, raw, t)}
    )
    sent: dict[str, str | None] = {
        "Content-Type": "application/json",
        "Idempotency-Key": key,
        "X-Request-ID": str(uuid.uuid4()),
        **signed,
        **(headers or {}),
    }
    clean = {name: value for name, value in sent.items() if value is not None}
    return requests.request(method, url, data=raw, headers=clean, timeout=timeout)


def test_accepts_a_correctly_signed_request_and_records_it(server: WebhookServer) -> None:
    body = payload("5f1c7d8e-0000-4000-8000-000000000001")
    before = time.time()
    response = post(server.url, body, key="k-1")
    assert response.status_code == 200
    (recorded,) = server.requests
    assert (recorded.method, recorded.path, recorded.status) == ("POST", "/hook", 200)
    assert recorded.json == body and json.loads(recorded.body) == body
    assert recorded.idempotency_key == "k-1" and recorded.header("x-request-id")
    assert before <= recorded.arrived_at <= time.time()
    assert server.url == f"http://127.0.0.1:{server.port}/hook"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"secret": "wrong-secret"}, "No matching signature found"),
        # As ages, not timestamps: a timestamp computed when the tests were collected was no
        # longer "too new" once the suite had run for five minutes before reaching this test.
        ({"age": 301}, "Message timestamp too old"),
        ({"age": -600}, "Message timestamp too new"),
        ({"headers": {"webhook-signature": "sha256=abc"}}, "malformed webhook-signature"),
        ({"headers": {"webhook-signature": None}}, "Missing required headers"),
        ({"headers": {"Idempotency-Key": "another-key"}}, "webhook-id must be the Idempotency-Key"),
        ({"scheme": LRS_V1}, "is the target's signature lrs-v1?"),
        ({"headers": {"Idempotency-Key": None}}, "missing Idempotency-Key"),
        ({"headers": {"X-Request-ID": None}}, "missing X-Request-ID"),
        ({"headers": {"Content-Type": "text/plain"}}, "Content-Type"),
        ({"method": "PUT"}, "method must be POST"),
        ({"body": {**payload(), "event": "statement.deleted"}}, "event must be"),
        ({"body": {**payload(), "statement": {"verb": {}}}}, "statement must be"),
        ({"body": {"event": "statement.voided", "statement": {"id": "x"}}}, "target must be"),
    ],
)
def test_rejects_requests_that_break_the_contract(
    server: WebhookServer, overrides: dict[str, Any], reason: str
) -> None:
    server.enqueue(status(503))
    response = post(server.url, **overrides)
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert server.requests[0].rejected == response.json()["error"]
    assert server.distinct_keys() == set()
    assert post(server.url).status_code == 503, "a rejected request must not consume the queue"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"secret": "wrong-secret"}, "does not match"),
        ({"age": 301}, "older than 300"),
        ({"headers": {"X-LRS-Signature": "sha256=abc"}}, "malformed"),
        ({"headers": {"X-LRS-Signature": None}}, "missing X-LRS-Signature"),
        ({"scheme": STANDARD}, "is the target's signature standard?"),
    ],
)
def test_a_receiver_built_on_lrs_v1_rejects_what_its_header_does_not_sign(
    lrs_v1_server: WebhookServer, overrides: dict[str, Any], reason: str
) -> None:
    response = post(lrs_v1_server.url, **{"scheme": LRS_V1, **overrides})
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert post(lrs_v1_server.url, scheme=LRS_V1, key="v1").status_code == 200
    assert lrs_v1_server.distinct_keys() == {"v1"}


@pytest.mark.parametrize("scheme", [STANDARD, LRS_V1])
def test_accepts_content_type_with_charset_and_a_signature_just_inside_the_window(scheme: str) -> None:
    with WebhookServer(secret=SECRET, signature=scheme) as server:
        response = post(
            server.url,
            t=int(time.time()) - 290,
            headers={"Content-Type": "application/json; charset=utf-8"},
            scheme=scheme,
        )
    assert response.status_code == 200


def test_takes_a_whsec_secret_as_base64_and_any_other_as_its_utf8_bytes() -> None:
    whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    with WebhookServer(secret=whsec) as server:
        assert post(server.url, secret=whsec).status_code == 200
    # The plain-text secret of a target made before Standard Webhooks is not base64 at all.
    with WebhookServer(secret="plain text, not base64!") as server:
        assert post(server.url, secret="plain text, not base64!").status_code == 200


def test_refuses_a_signature_scheme_it_does_not_know() -> None:
    with pytest.raises(ValueError, match="signature must be one of"):
        WebhookServer(secret=SECRET, signature="sha1")


def test_answers_from_the_queue_then_the_default(server: WebhookServer) -> None:
    server.enqueue(status(503), retry_after(7), status(410, {"X-Why": "gone"}, b'{"gone": true}'), ok())
    server.set_default(status(500))
    first, second, third, fourth, fifth = (post(server.url) for _ in range(5))
    assert first.status_code == 503
    assert (second.status_code, second.headers["Retry-After"]) == (429, "7")
    assert (third.status_code, third.headers["X-Why"], third.json()) == (410, "gone", {"gone": True})
    assert (fourth.status_code, fifth.status_code) == (200, 500)
    assert retry_after(3, code=503).code == 503
    assert [r.status for r in server.requests] == [503, 429, 410, 200, 500]


def test_hang_outlasts_the_client_timeout_but_the_effect_still_lands(server: WebhookServer) -> None:
    server.enqueue(hang(1.0))
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        post(server.url, key="slow", timeout=0.3)
    assert time.monotonic() - started < 0.9
    assert server.wait_for(lambda s: s.requests[0].finished, timeout=5)
    assert server.requests[0].status == 200
    assert server.distinct_keys() == {"slow"}


def test_a_held_request_is_answered_when_released_and_not_before(server: WebhookServer) -> None:
    release = threading.Event()
    server.enqueue(held(release, seconds=30))
    answers: list[int] = []
    client = threading.Thread(target=lambda: answers.append(post(server.url, key="held").status_code))
    client.start()
    assert server.wait_for(lambda s: len(s.requests) == 1, timeout=5)
    time.sleep(0.3)
    assert not server.requests[0].finished and answers == []
    started = time.monotonic()
    release.set()
    client.join(5)
    assert answers == [200] and time.monotonic() - started < 2
    assert server.distinct_keys() == {"held"}


def test_stop_wakes_a_hanging_handler_which_drops_the_connection(server: WebhookServer) -> None:
    server.enqueue(hang(30))
    errors: list[BaseException] = []

    def call() -> None:
        try:
            post(server.url, key="dropped", timeout=10)
        except requests.RequestException as exc:
            errors.append(exc)

    client = threading.Thread(target=call)
    client.start()
    assert server.wait_for(lambda s: len(s.requests) == 1, timeout=5)
    started = time.monotonic()
    server.stop()
    client.join(5)
    assert time.monotonic() - started < 5 and not client.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], requests.ConnectionError)
    assert server.requests[0].finished and server.requests[0].status is None
    assert server.distinct_keys() == set()


def test_stop_refuses_connections_and_start_listens_again_on_the_same_port(server: WebhookServer) -> None:
    url, port = server.url, server.port
    server.stop()
    assert port_refuses(port)
    with pytest.raises(requests.ConnectionError):
        post(url)
    server.start()
    assert (server.url, server.port) == (url, port)
    assert post(url).status_code == 200


def test_queued_refuse_drops_the_request_and_takes_the_server_down(server: WebhookServer) -> None:
    server.enqueue(refuse())
    with pytest.raises(requests.ConnectionError):
        post(server.url, key="lost")
    assert not server.running and port_refuses(server.port)
    with pytest.raises(requests.ConnectionError):
        post(server.url)
    server.start()
    assert post(server.url, key="after").status_code == 200
    assert server.distinct_keys() == {"after"}


def test_distinct_keys_and_effects_dedupe_by_idempotency_key(server: WebhookServer) -> None:
    server.enqueue(status(503))
    first, retried, failed = payload("s-1"), payload("s-2"), payload("s-3")
    assert post(server.url, first, key="a").status_code == 503
    assert post(server.url, first, key="a").status_code == 200
    assert post(server.url, first, key="a").status_code == 200  # a duplicate delivery
    assert post(server.url, retried, key="b").status_code == 200
    server.enqueue(status(500))
    assert post(server.url, failed, key="c").status_code == 500
    assert server.distinct_keys() == {"a", "b"}
    assert [effect["statement"]["id"] for effect in server.effects()] == ["s-1", "s-2"]
    assert len(server.accepted()) == 3 and len(server.requests) == 5
    server.reset()
    assert server.requests == [] and server.distinct_keys() == set()


def test_records_concurrent_requests_without_losing_any(server: WebhookServer) -> None:
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda i=i: results.append(post(server.url, key=f"k{i}").status_code))
        for i in range(25)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == [200] * 25
    assert server.distinct_keys() == {f"k{i}" for i in range(25)}


def test_runs_as_a_standalone_process() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.targets.webhook_server", "--port", str(port), "--secret", "S"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == f"listening on http://127.0.0.1:{port}/hook"
        assert post(f"http://127.0.0.1:{port}/hook", secret="S", key="solo").status_code == 200
        assert post(f"http://127.0.0.1:{port}/hook", secret="not-S").status_code == 400
        lines = [json.loads(proc.stdout.readline()) for _ in range(2)]
        assert (lines[0]["status"], lines[0]["idempotency_key"]) == (200, "solo")
        assert lines[1]["status"] == 400 and "No matching signature" in lines[1]["rejected"]
        proc.terminate()
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
