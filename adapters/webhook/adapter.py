"""The generic webhook adapter: POST the statement, signed, with an idempotency key.

Body: ``{"event": "statement.stored" | "statement.voided", "target": name,
"statement": <the statement as GET /xapi/statements serves it>}``.
Headers: ``Idempotency-Key`` (statement id + target + kind: the same on every
retry, so receivers can drop repeats), ``X-LRS-Signature: t=<unix>,v1=<hex>``
where v1 = HMAC-SHA256(secret, "<t>." + body) (as Stripe does: receivers
recompute it and reject stale ``t`` to refuse replays), and ``X-Request-ID``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any, ClassVar

from adapters.base import Adapter, DeliveryContext, OutboundRequest

STORED_EVENT = "statement.stored"
VOIDED_EVENT = "statement.voided"


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class WebhookAdapter(Adapter):
    name = "webhook"
    description = "POST each matching statement to a URL, HMAC-signed, with an Idempotency-Key"
    supports_retraction = True
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["url", "secret"],
        "additionalProperties": False,
        "properties": {
            "url": {"type": "string", "pattern": "^https?://"},
            "secret": {"secret": True, "description": 'HMAC key, as {"env": ...} or {"file": ...}'},
            "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 120},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }

    def _request(self, event: str, statement: dict, context: DeliveryContext) -> OutboundRequest:
        payload = {"event": event, "target": context.target_name, "statement": statement}
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            **self.config.get("headers", {}),
            "Content-Type": "application/json",
            "Idempotency-Key": context.idempotency_key,
            "X-LRS-Event": event,
            "X-LRS-Signature": signature_header(self.secrets["secret"], body, int(time.time())),
        }
        if context.correlation_id:
            headers["X-Request-ID"] = context.correlation_id
        return OutboundRequest(
            method="POST",
            url=self.config["url"],
            body=body,
            headers=headers,
            timeout=float(self.config.get("timeout_seconds", 10)),
        )

    def translate(self, statement: dict, context: DeliveryContext) -> OutboundRequest:
        return self._request(STORED_EVENT, statement, context)

    def translate_retraction(self, statement: dict, context: DeliveryContext) -> OutboundRequest:
        return self._request(VOIDED_EVENT, statement, context)
