"""Our webhook contract, written once so the fake receiver and the tests agree on it.

The receiver side (``check_request``) is deliberately strict: a fake that accepts anything
would let the engine drift from the contract unnoticed. It has no Django import so the
server also runs as a standalone process, and never imports the adapter's signing code: it
verifies as a receiver would, Standard Webhooks with the ``standardwebhooks`` library, ``lrs-v1``
with its own HMAC.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from standardwebhooks import Webhook, WebhookVerificationError

EVENTS = frozenset({"statement.stored", "statement.voided"})
ALERT_EVENT = (
    "lrs.alert"  # to an alert target: {"event", "alert": {rule, target, state, value, threshold, text, link}}
)
ALERT_FIELDS = frozenset({"rule", "target", "state", "value", "threshold", "text", "link"})
# A person was erased: {"event", "actor", "erasedAt"}; the actor by "employeeId" or "pseudonym" (one
# of them at most) and/or "pseudonyms": [...], nothing else.
ERASED_EVENT = "actor.erased"
ERASED_ACTOR_FORMS = (
    {"employeeId"},
    {"pseudonym"},
    {"pseudonyms"},
    {"employeeId", "pseudonyms"},
    {"pseudonym", "pseudonyms"},
)
STANDARD, LRS_V1 = "standard", "lrs-v1"  # a target's "signature"
SCHEMES = (STANDARD, LRS_V1)
SIGNATURE_HEADER = "X-LRS-Signature"  # lrs-v1
STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
MAX_SIGNATURE_AGE_SECONDS = 300
# A batched target's request (``batch_size``): a JSON array of events, each with its own key.
BATCH_EVENT = "batch"
MAX_BATCH_ITEMS = 100
ITEM_KEY = "idempotencyKey"


class Headers(Protocol):
    """Case-insensitive header access, as ``http.client.HTTPMessage`` provides."""

    def get(self, name: str, default: None = None) -> str | None: ...

    def items(self) -> Iterable[tuple[str, str]]: ...


def receiver_webhook(secret: str) -> Webhook:
    """The ``standardwebhooks`` verifier a receiver sets up with a target's secret: a ``whsec_``
    secret as it is (the library base64-decodes it), any other as its UTF-8 bytes (given a
    string, the library would base64-decode that too, which is not the key the LRS signs with)."""
    return Webhook(secret if secret.startswith("whsec_") else secret.encode())


def standard_headers(secret: str, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Standard Webhooks headers for ``body``, signed with the library (for tests that send)."""
    t = int(time.time()) if timestamp is None else timestamp
    signed = receiver_webhook(secret).sign(msg_id, datetime.fromtimestamp(t, tz=UTC), body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(t), "webhook-signature": signed}


def check_standard(secret: str, headers: Headers, body: bytes) -> str | None:
    """Why the Standard Webhooks signature is unacceptable (the library's verdict, headers and
    body exactly as received: wrong, stale beyond 5 minutes, missing), or None when it is valid."""
    if not any(headers.get(name) for name in STANDARD_HEADERS) and headers.get(SIGNATURE_HEADER):
        return (
            f"expected Standard Webhooks headers, got {SIGNATURE_HEADER}: is the target's signature lrs-v1?"
        )
    signatures = (headers.get("webhook-signature") or "").split()
    if not all(_well_formed(signature) for signature in signatures):
        # Checked here: the library's own verdict on these changed between releases (1.1 raised
        # ValueError, 1.3 reports "No matching signature found"); a receiver should say which.
        return "malformed webhook-signature (expected v1,<base64>) or a body that is not UTF-8"
    try:
        receiver_webhook(secret).verify(body, dict(headers.items()), json_parse=False)
    except WebhookVerificationError as exc:
        return f"Standard Webhooks verification failed: {exc}"
    except ValueError:  # what the library cannot parse: a signature without "v1,", bad base64
        return "malformed webhook-signature (expected v1,<base64>) or a body that is not UTF-8"
    if headers.get("webhook-id") != headers.get("Idempotency-Key"):
        return "webhook-id must be the Idempotency-Key"
    return None


def signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``X-LRS-Signature`` value for ``body``: ``t=<unix seconds>,v1=<hex HMAC-SHA256>``.

    The timestamp is signed together with the body so a captured request cannot be replayed
    later with a fresh ``t``.
    """
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def _parse_signature(value: str) -> tuple[int, str] | None:
    parts = dict(item.split("=", 1) for item in value.split(",") if "=" in item)
    t, v1 = parts.get("t", ""), parts.get("v1", "")
    if not t.isdigit() or not v1 or any(c not in "0123456789abcdef" for c in v1.lower()):
        return None
    return int(t), v1.lower()


def check_signature(
    secret: str,
    header: str | None,
    body: bytes,
    now: float | None = None,
    max_age: int = MAX_SIGNATURE_AGE_SECONDS,
) -> str | None:
    """Return why the signature is unacceptable, or None when it is valid and fresh."""
    if not header:
        return f"missing {SIGNATURE_HEADER}"
    parsed = _parse_signature(header)
    if parsed is None:
        return f"malformed {SIGNATURE_HEADER}: expected t=<unix seconds>,v1=<hex>"
    t, v1 = parsed
    current = time.time() if now is None else now
    if current - t > max_age:
        return f"{SIGNATURE_HEADER} timestamp is older than {max_age} s"
    expected = signature(secret, body, t).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, v1):
        return f"{SIGNATURE_HEADER} does not match the body"
    return None


def batch_key(item_keys: list[str]) -> str:
    """A batched request's ``Idempotency-Key``: ``batch_`` and the first 32 hex digits of the
    SHA-256 of its items' keys joined by newlines (README, "Webhook batches")."""
    return "batch_" + hashlib.sha256("\n".join(item_keys).encode()).hexdigest()[:32]


def without_item_key(item: dict[str, Any]) -> dict[str, Any]:
    """An event of a batched request as it would come alone: without its ``idempotencyKey``."""
    return {name: value for name, value in item.items() if name != ITEM_KEY}


def _check_batch(items: list[Any], headers: Headers) -> str | None:
    """A batched request: 1 to 100 events, each an object with a non-empty ``idempotencyKey``
    (distinct within the request) that is otherwise a valid event, ``X-LRS-Event: batch``, and
    the request's key made from its items' (``batch_key``)."""
    if headers.get("X-LRS-Event") != BATCH_EVENT:
        return f"a JSON array body comes with X-LRS-Event: {BATCH_EVENT}"
    if not 1 <= len(items) <= MAX_BATCH_ITEMS:
        return f"a batch holds 1 to {MAX_BATCH_ITEMS} events, got {len(items)}"
    keys = set()
    for index, item in enumerate(items):
        key = item.get(ITEM_KEY) if isinstance(item, dict) else None
        if not isinstance(key, str) or not key.strip():
            return f"[{index}].{ITEM_KEY} must be a non-empty string"
        if key in keys:
            return f"[{index}].{ITEM_KEY} {key!r} repeats an earlier item of the batch"
        keys.add(key)
        reason = _check_payload(without_item_key(item))
        if reason:
            return f"[{index}]: {reason}"
    if headers.get("Idempotency-Key") != batch_key([item[ITEM_KEY] for item in items]):
        return "a batch's Idempotency-Key must be batch_ and the hash of its items' keys"
    return None


def _check_payload(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return "body must be a JSON object (or, for a batched target, an array of them)"
    if payload.get("event") == ALERT_EVENT:
        alert = payload.get("alert")
        if (
            not isinstance(alert, dict)
            or set(alert) != ALERT_FIELDS
            or alert["state"] not in ("raised", "cleared")
        ):
            return f"alert must be an object with exactly {sorted(ALERT_FIELDS)}, state raised or cleared"
        return None
    if payload.get("event") == ERASED_EVENT:
        actor = payload.get("actor")
        if set(payload) != {"event", "actor", "erasedAt"} or not isinstance(actor, dict):
            return "actor.erased must be exactly {event, actor, erasedAt}"
        if set(actor) not in ERASED_ACTOR_FORMS:
            return "an erased actor is named only by employeeId or pseudonym, and pseudonyms"
        return None
    if payload.get("event") not in EVENTS:
        return f"event must be one of {sorted(EVENTS)}"
    statement = payload.get("statement")
    if not isinstance(statement, dict) or not isinstance(statement.get("id"), str):
        return "statement must be an xAPI statement object with an id"
    if not isinstance(payload.get("target"), str):
        return "target must be a string"
    return None


def check_request(
    secret: str,
    method: str,
    headers: Headers,
    body: bytes,
    scheme: str = STANDARD,
    batched: bool | None = None,
) -> tuple[str | None, Any]:
    """Validate one request against the contract, its signature by ``scheme`` (the target's
    ``signature``): (reason it is rejected or None, parsed JSON). ``batched``: whether the target
    has a ``batch_size`` (every body an array) or not (every body an object); None takes either."""
    parsed: Any = None
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    if method != "POST":
        return f"method must be POST, got {method}", parsed
    media_type = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        return "Content-Type must be application/json", parsed
    for name in ("Idempotency-Key", "X-Request-ID"):
        if not (headers.get(name) or "").strip():
            return f"missing {name}", parsed
    if scheme == STANDARD:
        reason = check_standard(secret, headers, body)
    elif headers.get(SIGNATURE_HEADER) is None and headers.get("webhook-signature"):
        reason = (
            f"expected {SIGNATURE_HEADER}, got Standard Webhooks headers: is the target's signature standard?"
        )
    else:
        reason = check_signature(secret, headers.get(SIGNATURE_HEADER), body)
    if reason:
        return reason, parsed
    if parsed is None:
        return "body must be JSON", parsed
    if batched is not None and isinstance(parsed, list) != batched:
        return (
            "a batched target's body is a JSON array" if batched else "body must be a JSON object"
        ), parsed
    if isinstance(parsed, list):
        return _check_batch(parsed, headers), parsed
    if headers.get("X-LRS-Event") == BATCH_EVENT:
        return f"X-LRS-Event: {BATCH_EVENT} comes with a JSON array body", parsed
    return _check_payload(parsed), parsed


def _well_formed(signature: str) -> bool:
    """``<version>,<base64>``, as the specification writes each space-separated signature."""
    version, comma, value = signature.partition(",")
    if not (version and comma and value):
        return False
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True
