"""What a target may be told besides statements: an alert transition (``adapters.alerts``) and a
person's erasure (``adapters.privacy``). Plain values, re-exported by ``adapters.base`` (the
contract an adapter implements: ``alert_requests``, ``erasure_requests``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AlertNotice:
    """One alert transition for an alert target to announce (``adapters.alerts``): ``state`` is
    "raised" or "cleared"; ``text`` names the target, the figure and the threshold; ``link`` is the
    admin page to look at."""

    rule: str
    target_name: str
    state: str
    value: float | None
    threshold: float | None
    text: str
    link: str
    key: str  # unique per transition: the idempotency key of its message


@dataclass(frozen=True)
class ErasureNotice:
    """A person was erased (``adapters.privacy``): what a target told of it (``on_erasure:
    notify``) may know of them, and nothing more: the employee id (named by the erasure or given
    by the identity links of the agent it names) and this target's pseudonyms of their
    identifiers (``adapters.privacy.per_target``)."""

    key: str  # the idempotency key of the message: one per erasure request
    target_name: str
    employee_id: str
    pseudonyms: tuple[str, ...]
    erased_at: str  # ISO 8601, UTC
