"""The adapter contract: what every downstream target implements.

An adapter turns one stored statement (as ``GET /xapi/statements`` serves it)
into one request for its system (``translate``, a pure function), and sends it
(``send``, through ``adapters.http``, the one HTTP seam). Failures are
``AdapterError``; ``permanent=True`` means retrying cannot help. Shaped after
healthchecks' transports (``hc/api/transports.py``). The request, result and error types live in
``adapters.outbound`` (the HTTP seam uses them too) and are re-exported here: an adapter needs
only this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from adapters import http
from adapters.outbound import AdapterError, OutboundRequest, SendResult

__all__ = [
    "DELIVER",
    "RETRACT",
    "Adapter",
    "AdapterConfigError",
    "AdapterError",
    "DeliveryContext",
    "DeliveryHeld",
    "OutboundRequest",
    "SendResult",
]

DELIVER = "deliver"
RETRACT = "retract"


class DeliveryHeld(Exception):
    """The statement cannot be translated yet (e.g. its actor maps to no employee): the delivery
    waits, neither dead nor lost, until ``key`` is resolved (an identity link appears)."""

    def __init__(self, reason: str, *, key: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.key = key
        self.detail = detail


class AdapterConfigError(Exception):
    """A target's configuration does not fit its adapter; the message names the field."""


@dataclass(frozen=True)
class DeliveryContext:
    """Facts about the delivery a translation may use (ids only, no database access)."""

    target_name: str
    kind: str  # DELIVER or RETRACT
    idempotency_key: str
    correlation_id: str = ""
    attempt: int = 1
    # What ``Adapter.resolve`` looked up for this statement (employee id, competencies, ...).
    resolved: dict[str, Any] = field(default_factory=dict)


class Adapter:
    """Base class. Subclasses set ``name``, ``config_schema`` and implement ``translate``."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # JSON schema of the target's configuration; validated when a target is saved and at start-up.
    config_schema: ClassVar[dict[str, Any]] = {"type": "object"}
    # Adapters that can undo a delivery (on voiding) set this and implement translate_retraction.
    supports_retraction: ClassVar[bool] = False

    def __init__(self, config: dict[str, Any], secrets: dict[str, str] | None = None) -> None:
        self.config = config
        self.secrets = secrets or {}

    def resolve(self, statement: dict, context: DeliveryContext) -> dict[str, Any]:
        """Look up what ``translate`` needs beyond the statement (the one step that may read the
        database): e.g. the employee id of the actor. Raise ``DeliveryHeld`` to wait."""
        return {}

    def translate(self, statement: dict, context: DeliveryContext) -> OutboundRequest:
        """The request for this statement: a pure function of statement and context."""
        raise NotImplementedError

    def translate_retraction(self, statement: dict, context: DeliveryContext) -> OutboundRequest:
        raise AdapterError(f"the {self.name} adapter cannot retract deliveries", permanent=True)

    def send(self, request: OutboundRequest, context: DeliveryContext) -> SendResult:
        return http.send(request, correlation_id=context.correlation_id)
