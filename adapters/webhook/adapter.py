"""The generic webhook adapter: POST each matching statement, signed, with an idempotency key.

**What the receiver holds** (the contract): one ``statement.stored`` event per live statement the
target's filter takes (a retry, replay or forced backfill repeats the same ``Idempotency-Key``, so
a receiver that drops repeats applies each once), and one ``statement.voided`` event after it
when the statement is voided, never before it; when a person is erased (``on_erasure: notify``,
the default for webhooks), one ``actor.erased`` event naming them only as ``statement.stored``
named them here (employee id, or its pseudonym, and this target's pseudonyms of their
identifiers), under one ``Idempotency-Key`` per erasure.

Body: ``{"event": "statement.stored" | "statement.voided", "target": name, "statement": ...,
"actor": ...}``. By default the statement is minimised to what a downstream system acts on: its
``id``, ``verb``, ``object`` (id, type and name), ``result`` (score, success, completion,
duration: not the learner's free-text response or extensions), ``timestamp`` and ``stored``; the
learner appears only as ``actor``: ``{"employeeId"}`` when an identity link names them, else
``{"pseudonym"}`` (a keyed hash, stable per target). ``payload: "full"`` sends the statement as
``GET /xapi/statements`` serves it instead (an explicit opt-in: it carries names and e-mail
addresses). ``pseudonymise: true`` sends only pseudonyms: ``actor`` is ``{"pseudonym"}`` and, in
a full payload, every agent's identifier is replaced by a pseudonymous account.

Headers: ``Idempotency-Key`` (statement id + target + kind), ``X-LRS-Event``, ``X-Request-ID``,
and the signature (``adapters.webhook.signing``), by the target's ``signature``: ``standard`` (the
default, Standard Webhooks) sends ``webhook-id`` (the ``Idempotency-Key`` again: the same on
every retry, replay or backfill, so a receiver drops repeats by it; batched, see below),
``webhook-timestamp`` (unix
seconds of this attempt) and ``webhook-signature: v1,<base64>``; ``lrs-v1``, for receivers built
before, sends ``X-LRS-Signature: t=<unix>,v1=<hex>`` instead. Either way the timestamp is signed
with the body and taken again for each attempt (each is prepared afresh), so a receiver rejects a
stale one to refuse replays and a retry is never stale.

Batches (``batch_size``, off by default; for receivers that take arrays): with ``batch_size`` N
above 1, every request to the target carries a JSON array of up to N events, each the object
above plus its own ``idempotencyKey`` (the key its request would have carried alone), in the
order the engine claimed them; alerts and ``actor.erased`` notices come as arrays of one. The
request's ``Idempotency-Key`` (and ``webhook-id``) is ``batch_key`` of its items' keys, so the
same items re-sent together repeat it; they may be regrouped on a retry, so a receiver drops
repeats by each item's ``idempotencyKey``. ``X-LRS-Event`` is ``batch``; ``X-Request-ID`` is the
first item's. The answer covers the whole array: a 2xx takes every event, anything else fails
every one of them, each retried by the engine's policy (``adapters.delivery.arrays``: an array
refused for good is split in halves and sent again at once, a delivery that failed before
travels in smaller arrays, and one whose attempts ran out on a retryable failure of an array (a
5xx, a timeout, a 429) gets one more, alone; a 410 disables the target for the whole array).
The target's ``rate_limit_per_second``, ``concurrency`` and ``timeout_seconds`` are per request.
What the receiver holds is the same as without batches, per item key.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from contextlib import AbstractContextManager
from typing import Any, ClassVar

import orjson
from django.conf import settings

from adapters.base import (
    PRIVACY_CONFIG_PROPERTIES,
    Adapter,
    AlertNotice,
    DeliveryContext,
    DeliveryHeld,
    ErasureNotice,
    OutboundRequest,
    Prepared,
    SendResult,
)
from adapters.identity.resolution import TERMINATED, employee_for_statement, prefetched
from adapters.rules.pseudonyms import pseudonymise_agents
from adapters.secrets import HEADERS_SCHEMA, resolved_headers
from adapters.webhook.signing import SCHEMES, STANDARD, signature_headers
from lrs.xapi.agents import agent_ifi

# Of a result, what says how it went; never the free text of ``response`` or ``extensions``.
RESULT_FIELDS = ("score", "success", "completion", "duration")
STORED_EVENT = "statement.stored"
VOIDED_EVENT = "statement.voided"
ALERT_EVENT = "lrs.alert"  # an alert target's message (adapters/alerts): {"event", "alert": {...}}
ERASED_EVENT = "actor.erased"  # a person was erased (adapters/privacy): {"event", "actor", "erasedAt"}
BATCH_EVENT = "batch"  # X-LRS-Event of a request carrying an array of events (``batch_size``)
MAX_BATCH_SIZE = 100


def attempt_time() -> int:
    """Unix seconds of the attempt being prepared: what the signature's timestamp says."""
    return int(time.time())


def batch_key(item_keys: list[str]) -> str:
    """The ``Idempotency-Key`` of a request carrying events with these keys, in this order:
    ``batch_`` and the first 32 hex digits of the SHA-256 of the keys joined by newlines."""
    return "batch_" + hashlib.sha256("\n".join(item_keys).encode()).hexdigest()[:32]


def _dumps(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, at C speed (orjson); the standard library for what orjson refuses (an
    integer beyond 64 bits, which a statement's extensions may hold) and for a number beyond a
    double (``Infinity``, which statements stored before the ``number-range`` rule may hold):
    orjson would write ``null`` for it, changing the value without a word."""
    try:
        body = orjson.dumps(payload)
    except TypeError:
        body = None
    if body is None or (b"null" in body and _has_non_finite(payload)):
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return body


def _item(key: str, payload: dict[str, Any]) -> bytes:
    """One event of a batched target's array: the event with its own ``idempotencyKey``."""
    return _dumps({"idempotencyKey": key, **payload})


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_non_finite(item) for item in value)
    return False


def minimal_statement(statement: dict) -> dict[str, Any]:
    """What a downstream system acts on, without the people in it."""
    obj = statement.get("object") or {}
    if obj.get("objectType") == "SubStatement":
        obj = obj.get("object") or {}
    minimal: dict[str, Any] = {
        "id": statement["id"],
        "verb": {key: statement["verb"][key] for key in ("id", "display") if key in statement["verb"]},
        "object": {
            "objectType": obj.get("objectType", "Activity"),
            **({"id": obj["id"]} if "id" in obj else {}),
            **({"name": obj["definition"]["name"]} if "name" in (obj.get("definition") or {}) else {}),
        },
        "timestamp": statement.get("timestamp"),
        "stored": statement.get("stored"),
    }
    result = {
        key: statement["result"][key] for key in RESULT_FIELDS if key in (statement.get("result") or {})
    }
    if result:
        minimal["result"] = result
    return minimal


class WebhookAdapter(Adapter):
    holds_until_linked = False  # an unlinked learner gets a pseudonym; only a leaver waits
    name = "webhook"
    carries_alerts = True
    description = "POST each matching statement to a URL, signed (Standard Webhooks), with an idempotency key"
    supports_retraction = True
    takes_erasure_notices = True
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["url", "secret"],
        "additionalProperties": False,
        "properties": {
            "url": {"type": "string", "pattern": "^https?://"},
            "secret": {
                "secret": True,
                "description": (
                    'the signing secret, as {"env": ...} or {"file": ...}: whsec_<base64 of the key> '
                    "(Standard Webhooks) or any other text (then its UTF-8 bytes are the key)"
                ),
            },
            "signature": {
                "enum": list(SCHEMES),
                "description": (
                    "standard (default: Standard Webhooks, webhook-id, webhook-timestamp and "
                    "webhook-signature headers) or lrs-v1 (the X-LRS-Signature header of receivers "
                    "built before)"
                ),
            },
            "payload": {
                "enum": ["minimal", "full"],
                "description": "minimal (default: no names or addresses) or full (the whole statement)",
            },
            "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 120},
            "headers": HEADERS_SCHEMA,  # extra headers; a secret one as {"env": ...} or {"file": ...}
            "batch_size": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_BATCH_SIZE,
                "description": (
                    "events per request (default 1: a request each); above 1, every request "
                    "carries a JSON array of events, each with its idempotencyKey"
                ),
            },
            **PRIVACY_CONFIG_PROPERTIES,
        },
    }

    @classmethod
    def items_per_request(cls, config: dict[str, Any]) -> int:
        return int(config.get("batch_size", 1))

    @property
    def batched(self) -> bool:
        return self.items_per_request(self.config) > 1

    def prefetch(self, statements: list[dict]) -> AbstractContextManager[object]:
        return prefetched(statement["actor"] for statement in statements)

    def resolve(self, statement: dict, context: DeliveryContext) -> dict[str, Any]:
        """The learner as the receiver may see them: the employee id, else a pseudonym."""
        try:
            employee_id = employee_for_statement(statement, context)
        except DeliveryHeld as held:  # not linked (or ambiguously): the receiver gets a pseudonym
            if held.reason == TERMINATED:
                raise  # a leaver's statements wait like everywhere else
            employee_id = None
        identifier = (
            employee_id or agent_ifi(statement["actor"]) or json.dumps(statement["actor"], sort_keys=True)
        )
        if employee_id is not None and not self.pseudonymised:
            return {"actor": {"employeeId": employee_id}}
        return {"actor": {"pseudonym": self.pseudonym(identifier, context)}}

    def _statement(self, statement: dict, context: DeliveryContext) -> dict[str, Any]:
        if self.config.get("payload", "minimal") != "full":
            return minimal_statement(statement)
        if not self.pseudonymised:
            return statement
        home = f"{settings.LRS_AUTHORITY_HOMEPAGE.rstrip('/')}/pseudonyms/{context.target_name}"
        return pseudonymise_agents(statement, lambda ifi: self.pseudonym(ifi, context), home_page=home)

    def _request(self, event: str, statement: dict, context: DeliveryContext) -> OutboundRequest:
        payload = {
            "event": event,
            "target": context.target_name,
            "statement": self._statement(statement, context),
            "actor": context.resolved["actor"],
        }
        if self.batched:  # an item of a batch: ``send_together`` signs the array it goes in
            return OutboundRequest(
                method="POST",
                url=self.config["url"],
                body=_item(context.idempotency_key, payload),
                headers={"Idempotency-Key": context.idempotency_key, "X-LRS-Event": event},
                timeout=self._timeout,
            )
        return self._signed(event, payload, context.idempotency_key, context.correlation_id)

    @property
    def _timeout(self) -> float:
        return float(self.config.get("timeout_seconds", 10))

    def send_prepared(self, prepared: Prepared) -> SendResult:
        if self.batched and prepared.requests:
            return self.send_together([prepared])
        return super().send_prepared(prepared)

    def send_together(self, prepared: list[Prepared]) -> SendResult:
        """One request carrying the prepared items as an array (module docstring), signed now:
        its timestamp is this attempt's."""
        items = [one.requests[0] for one in prepared]
        if not self.batched or any(len(one.requests) != 1 for one in prepared) or not items:
            raise ValueError("send_together takes one prepared item each, to a batched target")
        request = self._signed_array(
            [item.body or b"" for item in items],
            [item.headers["Idempotency-Key"] for item in items],
            prepared[0].context.correlation_id,
        )
        return self.send(request, prepared[0].context)

    def _signed(
        self, event: str, payload: dict[str, Any], key: str, correlation_id: str = ""
    ) -> OutboundRequest:
        if self.batched:  # alerts and erasure notices too: a batched target always gets arrays
            return self._signed_array([_item(key, payload)], [key], correlation_id)
        return self._signed_body(event, _dumps(payload), key, correlation_id)

    def _signed_array(self, items: list[bytes], keys: list[str], correlation_id: str) -> OutboundRequest:
        """A request carrying these items (JSON bytes) as an array, under ``batch_key`` of theirs."""
        body = b"[" + b",".join(items) + b"]"
        return self._signed_body(BATCH_EVENT, body, batch_key(keys), correlation_id)

    def _signed_body(self, event: str, body: bytes, key: str, correlation_id: str) -> OutboundRequest:
        scheme = self.config.get("signature", STANDARD)
        headers = {
            **resolved_headers(self.config.get("headers", {})),
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            "X-LRS-Event": event,
            **signature_headers(scheme, self.secrets["secret"], key, body, attempt_time()),
        }
        if correlation_id:
            headers["X-Request-ID"] = correlation_id
        return OutboundRequest(
            method="POST",
            url=self.config["url"],
            body=body,
            headers=headers,
            timeout=self._timeout,
        )

    def alert_requests(self, notice: AlertNotice) -> list[OutboundRequest]:
        alert = {
            "rule": notice.rule,
            "target": notice.target_name,
            "state": notice.state,
            "value": notice.value,
            "threshold": notice.threshold,
            "text": notice.text,
            "link": notice.link,
        }
        return [self._signed(ALERT_EVENT, {"event": ALERT_EVENT, "alert": alert}, notice.key)]

    def erasure_requests(self, notice: ErasureNotice) -> list[OutboundRequest]:
        """``actor.erased``: the person as ``statement.stored`` named them here, by every name it
        may have used: ``employeeId`` (``pseudonym``, a pseudonym of it, with ``pseudonymise``)
        when an employee is known, and ``pseudonyms``, this target's pseudonyms of their
        identifiers (how their statements made before a link, or under ``pseudonymise``, named
        them); nothing else of them."""
        context = DeliveryContext(target_name=notice.target_name, kind="erasure", idempotency_key=notice.key)
        person: dict[str, Any] = {}
        if notice.employee_id:
            person = (
                {"pseudonym": self.pseudonym(notice.employee_id, context, remember=False)}
                if self.pseudonymised
                else {"employeeId": notice.employee_id}
            )
        # Not again the ``pseudonym`` above (``notice_for`` lists the employee's under every name
        # the target has had, its current one included).
        if pseudonyms := [name for name in notice.pseudonyms if name != person.get("pseudonym")]:
            person["pseudonyms"] = pseudonyms
        payload = {"event": ERASED_EVENT, "actor": person, "erasedAt": notice.erased_at}
        return [self._signed(ERASED_EVENT, payload, notice.key)]

    def translate(self, statement: dict, context: DeliveryContext) -> OutboundRequest:
        return self._request(STORED_EVENT, statement, context)

    def translate_retraction(self, statement: dict, context: DeliveryContext) -> OutboundRequest:
        return self._request(VOIDED_EVENT, statement, context)
