"""Held deliveries: a delivery whose actor maps to no employee (or to several) waits, neither
dead nor lost, until its key resolves; a new identity link releases it. The conflict report groups
what waits by key, with the employees that key matches."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count
from django.utils import timezone

from adapters.delivery import queue
from adapters.identity.resolution import AMBIGUOUS, TERMINATED, UNMAPPED
from adapters.models import Delivery, IdentityLink
from adapters.rules.keys import held_key_of


def deliveries_release(*, keys: Iterable[str] = (), ids: Iterable[int] = ()) -> list[int]:
    """Held deliveries whose key can now be resolved go back to pending (e.g. a new identity link),
    or these held deliveries (an admin's decision, e.g. after a re-hire): they are resolved again
    when sent, and held again if still unresolved."""
    chosen, wanted = list(ids), list(keys)
    if not chosen and not wanted:
        return []
    held = Delivery.objects.filter(status=Delivery.HELD)
    if chosen:
        held = held.filter(id__in=chosen)
    else:  # as the deliveries recorded them (a long identifier by its digest)
        held = held.filter(held_key__in=sorted({held_key_of(key) for key in wanted}))
    released = list(held.values_list("id", flat=True))
    if released:
        Delivery.objects.filter(id__in=released).update(
            status=Delivery.PENDING, next_attempt_at=timezone.now(), held_key="", updated_at=timezone.now()
        )
        queue.after_commit(released)
    return released


@dataclass
class HeldGroup:
    key: str
    reason: str
    deliveries: int
    candidates: list[str]


def identity_conflicts() -> list[HeldGroup]:
    """Held deliveries grouped by what they wait for, with the employees that key matches."""
    groups = (
        Delivery.objects.filter(status=Delivery.HELD)
        .values("held_key", "last_error")
        .annotate(n=Count("id"))
        .order_by("-n")
    )
    report: dict[str, HeldGroup] = {}
    for row in groups:
        key = row["held_key"]
        reason = next(
            (known for known in (AMBIGUOUS, TERMINATED) if row["last_error"].startswith(known)), UNMAPPED
        )
        group = report.setdefault(key, HeldGroup(key=key, reason=reason, deliveries=0, candidates=[]))
        group.deliveries += row["n"]
    for group in report.values():
        group.candidates = sorted(
            set(IdentityLink.objects.filter(lookup_key=group.key).values_list("employee_id", flat=True))
        )
    return list(report.values())
