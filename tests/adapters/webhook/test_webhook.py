"""The webhook adapter's request, exactly (a golden test), its signature, and what it says about
the learner: by default a minimised statement and the employee id or a pseudonym. Signatures as
receivers verify them: test_standard_webhooks.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import replace

import pytest
from standardwebhooks import Webhook

from adapters.base import DeliveryContext
from adapters.identity.links import Identifiers, identity_links_upsert
from adapters.webhook import adapter as webhook_adapter
from adapters.webhook.adapter import WebhookAdapter
from adapters.webhook.signing import signature_header

STATEMENT = {
    "id": "9c1c2b5e-3f2a-4d8e-9d0e-2f6f1c2a7b10",
    "verb": {"id": "http://adlnet.gov/expapi/verbs/passed"},
}
LEARNER = {"objectType": "Agent", "name": "Ada Lovelace", "mbox": "mailto:ada@example.com"}
INSTRUCTOR = {
    "objectType": "Agent",
    "name": "Grace",
    "account": {"homePage": "https://hr.example.com", "name": "g"},
}
FULL_STATEMENT = {
    "id": "9c1c2b5e-3f2a-4d8e-9d0e-2f6f1c2a7b11",
    "actor": LEARNER,
    "verb": {"id": "http://adlnet.gov/expapi/verbs/passed", "display": {"en-US": "passed"}},
    "object": {
        "objectType": "Activity",
        "id": "https://lms.example.com/q",
        "definition": {"name": {"en": "Quiz"}},
    },
    "result": {"success": True, "score": {"scaled": 0.9}, "response": "My name is Ada Lovelace"},
    "context": {"instructor": INSTRUCTOR, "registration": "ec531277-b57b-4c15-8d91-d292c5b2b8f7"},
    "timestamp": "2026-03-01T09:30:00.000000Z",
    "stored": "2026-03-01T09:30:01.000000Z",
}


def adapter(**config) -> WebhookAdapter:
    return WebhookAdapter(
        {"url": "https://hooks.example.com/lrs", "timeout_seconds": 3, **config}, {"secret": "k3y"}
    )


def context(kind: str = "deliver", **resolved) -> DeliveryContext:
    return DeliveryContext(
        target_name="hook",
        kind=kind,
        idempotency_key=f"S:hook:{kind}",
        correlation_id="c1",
        resolved=resolved or {"actor": {"employeeId": "E100"}},
    )


def test_translate_builds_the_request_signed_by_standard_webhooks(monkeypatch):
    now = int(time.time())
    monkeypatch.setattr(webhook_adapter, "attempt_time", lambda: now)
    request = adapter(payload="full").translate(STATEMENT, context())
    assert (
        request.method == "POST" and request.url == "https://hooks.example.com/lrs" and request.timeout == 3
    )
    assert json.loads(request.body) == {
        "event": "statement.stored",
        "target": "hook",
        "statement": STATEMENT,
        "actor": {"employeeId": "E100"},
    }
    headers = dict(request.headers)
    signature = headers.pop("webhook-signature")
    assert headers == {
        "Content-Type": "application/json",
        "Idempotency-Key": "S:hook:deliver",
        "X-LRS-Event": "statement.stored",
        "X-Request-ID": "c1",
        "webhook-id": "S:hook:deliver",
        "webhook-timestamp": str(now),
    }
    digest = hmac.new(b"k3y", f"S:hook:deliver.{now}.".encode() + request.body, hashlib.sha256).digest()
    assert signature == "v1," + base64.b64encode(digest).decode()
    assert Webhook(b"k3y").verify(request.body, request.headers) == json.loads(request.body)


def test_retraction_is_a_voided_event_with_its_own_key():
    request = adapter().translate_retraction(FULL_STATEMENT, context("retract"))
    assert json.loads(request.body)["event"] == "statement.voided"
    assert request.headers["Idempotency-Key"] == "S:hook:retract"


def test_lrs_v1_signature_header_format_is_unchanged():
    assert signature_header("k", b"{}", 1700000000) == (
        "t=1700000000,v1=" + hmac.new(b"k", b"1700000000.{}", hashlib.sha256).hexdigest()
    )


@pytest.mark.django_db
def test_by_default_the_statement_is_minimised_and_the_learner_named_by_employee_id():
    identity_links_upsert(employee_id="E100", identifiers=Identifiers(emails=["ada@example.com"]))
    hook = adapter()
    resolved = hook.resolve(FULL_STATEMENT, context())
    body = json.loads(hook.translate(FULL_STATEMENT, replace(context(), resolved=resolved)).body)
    assert body["actor"] == {"employeeId": "E100"}
    assert body["statement"] == {
        "id": FULL_STATEMENT["id"],
        "verb": FULL_STATEMENT["verb"],
        "object": {"objectType": "Activity", "id": "https://lms.example.com/q", "name": {"en": "Quiz"}},
        "result": {"success": True, "score": {"scaled": 0.9}},  # never the free-text response
        "timestamp": FULL_STATEMENT["timestamp"],
        "stored": FULL_STATEMENT["stored"],
    }
    assert "ada" not in json.dumps(body).lower() and "grace" not in json.dumps(body).lower()


@pytest.mark.django_db
def test_an_unlinked_learner_appears_as_a_pseudonym_stable_per_target(settings):
    hook = adapter()
    first = hook.resolve(FULL_STATEMENT, context())["actor"]
    again = hook.resolve(FULL_STATEMENT, context())["actor"]
    other = hook.resolve(FULL_STATEMENT, replace(context(), target_name="other-hook"))["actor"]
    assert first == again and set(first) == {"pseudonym"} and first["pseudonym"].startswith("p-")
    assert other != first  # targets cannot join their records on it


@pytest.mark.django_db
def test_pseudonymise_replaces_every_identifier_even_in_a_full_payload():
    identity_links_upsert(employee_id="E100", identifiers=Identifiers(emails=["ada@example.com"]))
    hook = WebhookAdapter(
        {"url": "https://hooks.example.com/lrs", "payload": "full", "pseudonymise": True},
        {"secret": "k3y", "pseudonym_key": "a-key-of-the-target"},
    )
    resolved = hook.resolve(FULL_STATEMENT, context())
    body = json.loads(hook.translate(FULL_STATEMENT, replace(context(), resolved=resolved)).body)
    assert set(body["actor"]) == {"pseudonym"} and "E100" not in json.dumps(body)
    agents = json.dumps([body["statement"]["actor"], body["statement"]["context"]]).lower()
    assert "ada" not in agents and "grace" not in agents and "mailto" not in json.dumps(body)
    assert set(body["statement"]["actor"]) == {"objectType", "account"}
    assert body["statement"]["context"]["registration"] == FULL_STATEMENT["context"]["registration"]


def test_a_full_payload_with_an_integer_beyond_64_bits_is_sent_exactly():
    """orjson refuses such an integer; the standard library writes it (a statement may carry it)."""
    statement = {**FULL_STATEMENT, "result": {"extensions": {"https://x.example/big": 2**70}}}
    request = adapter(payload="full").translate(statement, context())
    assert json.loads(request.body)["statement"]["result"]["extensions"]["https://x.example/big"] == 2**70


def test_a_number_beyond_a_double_stored_long_ago_is_sent_as_before_not_turned_into_null():
    """Statements stored before the number-range rule may hold Infinity (read back as a float):
    orjson would write null for it; the body carries it as the standard library writes it."""
    statement = {**FULL_STATEMENT, "result": {"extensions": {"https://x.example/far": float("inf")}}}
    request = adapter(payload="full").translate(statement, context())
    assert b"Infinity" in request.body and b"null" not in request.body
