"""The webhook adapter's request, exactly (a golden test), and its signature."""

from __future__ import annotations

import hashlib
import hmac
import json

from adapters.base import DeliveryContext
from adapters.webhook.adapter import WebhookAdapter, signature_header

STATEMENT = {
    "id": "9c1c2b5e-3f2a-4d8e-9d0e-2f6f1c2a7b10",
    "verb": {"id": "http://adlnet.gov/expapi/verbs/passed"},
}


def adapter() -> WebhookAdapter:
    return WebhookAdapter({"url": "https://hooks.example.com/lrs", "timeout_seconds": 3}, {"secret": "k3y"})


def test_translate_builds_the_signed_request():
    context = DeliveryContext(
        target_name="hook", kind="deliver", idempotency_key="S:hook:deliver", correlation_id="c1"
    )
    request = adapter().translate(STATEMENT, context)
    assert (
        request.method == "POST" and request.url == "https://hooks.example.com/lrs" and request.timeout == 3
    )
    assert json.loads(request.body) == {"event": "statement.stored", "target": "hook", "statement": STATEMENT}
    headers = request.headers
    assert headers["Idempotency-Key"] == "S:hook:deliver"
    assert headers["X-Request-ID"] == "c1"
    assert headers["Content-Type"] == "application/json"
    timestamp, digest = (part.split("=", 1)[1] for part in headers["X-LRS-Signature"].split(","))
    expected = hmac.new(b"k3y", f"{timestamp}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert digest == expected


def test_retraction_is_a_voided_event_with_its_own_key():
    context = DeliveryContext(target_name="hook", kind="retract", idempotency_key="S:hook:retract")
    request = adapter().translate_retraction(STATEMENT, context)
    assert json.loads(request.body)["event"] == "statement.voided"
    assert request.headers["Idempotency-Key"] == "S:hook:retract"


def test_signature_header_format():
    assert signature_header("k", b"{}", 1700000000) == (
        "t=1700000000,v1=" + hmac.new(b"k", b"1700000000.{}", hashlib.sha256).hexdigest()
    )
