"""Standard Webhooks signatures, checked the way a receiver checks them: real deliveries to the fake
receiver, verified with the ``standardwebhooks`` library on the headers and body as received; and
the ``lrs-v1`` header kept, byte for byte, for receivers built on it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, tzinfo
from typing import Any

import pytest
import requests
import standardwebhooks.webhooks
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from adapters.base import AlertNotice
from adapters.config import ConfigProblem, validate_target_config
from adapters.delivery.drain import delivery_send
from adapters.models import Delivery, Target
from adapters.secrets import SecretUnavailable
from adapters.webhook import adapter as webhook_adapter
from adapters.webhook.adapter import WebhookAdapter
from adapters.webhook.signing import standard_key, standard_signature
from lrs.statements.store import statement_store
from tests.conftest import make_statement
from tests.targets.webhook_contract import LRS_V1
from tests.targets.webhook_handler import RecordedRequest
from tests.targets.webhook_server import WebhookServer, status

# A Standard Webhooks secret as the specification serialises one (the key is 32 random-looking bytes).
WHSEC = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
PLAIN = "a-secret-from-before-standard-webhooks"
VOIDED = "http://adlnet.gov/expapi/verbs/voided"


def receiver(secret: str) -> Webhook:
    """What the README tells a receiver to write."""
    return Webhook(secret if secret.startswith("whsec_") else secret.encode())


def as_received(request: RecordedRequest) -> dict[str, str]:
    return dict(request.headers)


@pytest.fixture
def hook(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[WebhookServer, Target]]:
    """A fake receiver and the webhook target sending to it, both with the secret ``request.param``
    (default: ``WHSEC``); the target's config has no ``signature``, as every target made before."""
    secret = getattr(request, "param", WHSEC)
    monkeypatch.setenv("TEST_HOOK_SECRET", secret)
    server = WebhookServer(secret=secret).start()
    try:
        target = Target.objects.create(
            name="hook", adapter="webhook", config={"url": server.url, "secret": {"env": "TEST_HOOK_SECRET"}}
        )
        yield server, target
    finally:
        server.stop()


def store(capture: Callable[..., Any], *statements: dict) -> list[str]:
    with capture(execute=True):
        return statement_store(statements=list(statements), credential=None)


class _TenMinutesLater(datetime):
    """The library's clock, ten minutes on: a captured request replayed later."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:
        return datetime.now(tz) + timedelta(minutes=10)


def test_the_signature_reproduces_the_specification_test_vector() -> None:
    key = standard_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    signature = standard_signature(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_plain_secret_is_a_key_of_its_utf8_bytes() -> None:
    body = '{"é":1}'.encode()
    digest = hmac.new(PLAIN.encode(), b"id-1.1700000000." + body, hashlib.sha256).digest()
    assert standard_signature(standard_key(PLAIN), "id-1", 1700000000, body) == (
        "v1," + base64.b64encode(digest).decode()
    )
    assert standard_key("whsec_" + base64.b64encode(b"key!").decode().rstrip("=")) == b"key!"  # unpadded


@pytest.mark.parametrize("secret", ["whsec_not base64!", "whsec_", ""])
def test_a_secret_that_is_no_key_is_refused_without_showing_it(secret: str) -> None:
    with pytest.raises(SecretUnavailable, match="whsec_ followed by the base64 of the key") as refused:
        standard_key(secret)
    assert "not base64!" not in str(refused.value)


def test_the_configuration_accepts_standard_or_lrs_v1_and_names_the_field_otherwise() -> None:
    base = {"url": "https://hooks.example.com/lrs", "secret": {"env": "HOOK_SECRET"}}
    for config in (base, {**base, "signature": "standard"}, {**base, "signature": LRS_V1}):
        validate_target_config(adapter="webhook", config=config, filter_rules={})
    with pytest.raises(ConfigProblem, match=r"config\.signature: 'stripe' is not one of"):
        validate_target_config(adapter="webhook", config={**base, "signature": "stripe"}, filter_rules={})


@pytest.mark.django_db
@pytest.mark.parametrize("hook", [WHSEC, PLAIN], indirect=True)
def test_deliveries_verify_with_the_standardwebhooks_library_as_a_receiver_would(
    hook, django_capture_on_commit_callbacks
) -> None:
    server, _ = hook
    [statement_id] = store(django_capture_on_commit_callbacks, make_statement())
    voiding = make_statement(verb=VOIDED, object={"objectType": "StatementRef", "id": statement_id})
    store(django_capture_on_commit_callbacks, voiding)
    deliveries = {d.kind: d for d in Delivery.objects.all()}
    assert {d.status for d in deliveries.values()} == {Delivery.DELIVERED}
    stored, voided = server.accepted()
    for request, delivery in ((stored, deliveries["deliver"]), (voided, deliveries["retract"])):
        payload = receiver(server.secret).verify(request.body, as_received(request))
        assert payload == json.loads(request.body)
        assert request.header("webhook-id") == request.idempotency_key == delivery.idempotency_key
        assert request.header("X-LRS-Signature") is None  # standard is the default
        assert abs(int(request.header("webhook-timestamp") or 0) - time.time()) < 60
    assert [payload["event"] for payload in server.effects()] == ["statement.stored", "statement.voided"]


@pytest.mark.django_db
def test_a_retry_carries_the_same_webhook_id_with_a_fresh_timestamp_and_signature(
    hook, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    server, _ = hook
    server.enqueue(status(503, headers={"Retry-After": "60"}))  # the retry is not due in this drain
    two_minutes_ago = int(time.time()) - 120
    with monkeypatch.context() as earlier:  # the first attempt was made two minutes ago
        earlier.setattr(webhook_adapter, "attempt_time", lambda: two_minutes_ago)
        store(django_capture_on_commit_callbacks, make_statement())
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.RETRYING

    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert delivery_send(delivery.pk) == Delivery.DELIVERED
    first, retry = server.requests
    assert (first.status, retry.status) == (503, 200)
    assert first.header("webhook-id") == retry.header("webhook-id") == delivery.idempotency_key
    assert int(first.header("webhook-timestamp") or 0) == two_minutes_ago
    assert int(retry.header("webhook-timestamp") or 0) >= two_minutes_ago + 120
    assert first.header("webhook-signature") != retry.header("webhook-signature")
    for request in (first, retry):  # each one valid for the time it was sent
        receiver(server.secret).verify(request.body, as_received(request))
    assert len(server.effects()) == 1


@pytest.mark.django_db
def test_a_captured_delivery_replayed_ten_minutes_later_is_rejected(
    hook, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    server, _ = hook
    store(django_capture_on_commit_callbacks, make_statement())
    [captured] = server.accepted()
    receiver(server.secret).verify(captured.body, as_received(captured))

    monkeypatch.setattr(standardwebhooks.webhooks, "datetime", _TenMinutesLater)
    with pytest.raises(WebhookVerificationError, match="Message timestamp too old"):
        receiver(server.secret).verify(captured.body, as_received(captured))
    sent = ("Content-Type", "Idempotency-Key", "X-Request-ID", "X-LRS-Event", "webhook-id")
    headers = {
        name: captured.header(name) or "" for name in (*sent, "webhook-timestamp", "webhook-signature")
    }
    replay = requests.post(server.url, data=captured.body, headers=headers, timeout=5)
    assert replay.status_code == 400 and "Message timestamp too old" in replay.json()["error"]
    assert len(server.effects()) == 1


@pytest.mark.django_db
def test_a_receiver_with_another_secret_rejects_the_delivery(
    hook, django_capture_on_commit_callbacks
) -> None:
    server, _ = hook
    server.secret = "whsec_" + base64.b64encode(b"the receiver's own, other key").decode()
    store(django_capture_on_commit_callbacks, make_statement())
    [request] = server.requests
    assert request.status == 400 and "No matching signature found" in (request.rejected or "")
    with pytest.raises(WebhookVerificationError, match="No matching signature found"):
        receiver(server.secret).verify(request.body, as_received(request))
    assert Delivery.objects.get().status == Delivery.DEAD  # a 400: sending again cannot help


@pytest.mark.django_db
def test_a_malformed_whsec_secret_fails_the_attempt_naming_the_form_not_the_value(
    hook, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    server, _ = hook
    monkeypatch.setenv("TEST_HOOK_SECRET", "whsec_$$not-base64$$")
    store(django_capture_on_commit_callbacks, make_statement())
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.RETRYING and server.requests == []
    assert "whsec_ followed by the base64 of the key" in delivery.last_error
    assert "not-base64" not in delivery.last_error


def test_lrs_v1_sends_the_x_lrs_signature_header_exactly_as_before(monkeypatch) -> None:
    monkeypatch.setattr(webhook_adapter, "attempt_time", lambda: 1700000000)
    hook = WebhookAdapter({"url": "https://hooks.example.com/lrs", "signature": LRS_V1}, {"secret": "k3y"})
    request = hook.alert_requests(
        AlertNotice("dead_letters", "hook", "raised", 2.0, 1.0, "text", "link", key="alert:1")
    )[0]
    digest = hmac.new(b"k3y", b"1700000000." + request.body, hashlib.sha256).hexdigest()
    assert request.headers == {
        "Content-Type": "application/json",
        "Idempotency-Key": "alert:1",
        "X-LRS-Event": "lrs.alert",
        "X-LRS-Signature": f"t=1700000000,v1={digest}",
    }


@pytest.mark.django_db
def test_an_lrs_v1_target_is_accepted_by_a_receiver_built_on_that_header(
    django_capture_on_commit_callbacks, monkeypatch
) -> None:
    monkeypatch.setenv("TEST_HOOK_SECRET", PLAIN)
    with WebhookServer(secret=PLAIN, signature=LRS_V1) as server:
        Target.objects.create(
            name="legacy",
            adapter="webhook",
            config={"url": server.url, "secret": {"env": "TEST_HOOK_SECRET"}, "signature": LRS_V1},
        )
        store(django_capture_on_commit_callbacks, make_statement())
        [request] = server.accepted()
    assert Delivery.objects.get().status == Delivery.DELIVERED
    assert request.header("X-LRS-Signature") and request.header("webhook-signature") is None
