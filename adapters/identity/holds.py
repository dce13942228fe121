"""Held deliveries: a delivery whose actor maps to no employee (or to several) waits, neither
dead nor lost, until its key resolves; a new identity link releases it. The conflict report groups
what waits by key, with the employees that key matches."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count
from django.utils import timezone

from adapters.delivery import queue
from adapters.identity.resolution import AMBIGUOUS, UNMAPPED
from adapters.models import Delivery, IdentityLink


def deliveries_release(*, keys: Iterable[str]) -> list[int]:
    """Held deliveries whose key can now be resolved go back to pending (e.g. a new identity link)."""
    ids = list(
        Delivery.objects.filter(status=Delivery.HELD, held_key__in=list(keys)).values_list("id", flat=True)
    )
    if ids:
        Delivery.objects.filter(id__in=ids).update(
            status=Delivery.PENDING, next_attempt_at=timezone.now(), held_key="", updated_at=timezone.now()
        )
        queue.after_commit(ids)
    return ids


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
        reason = AMBIGUOUS if row["last_error"].startswith(AMBIGUOUS) else UNMAPPED
        group = report.setdefault(key, HeldGroup(key=key, reason=reason, deliveries=0, candidates=[]))
        group.deliveries += row["n"]
    for group in report.values():
        group.candidates = sorted(
            set(IdentityLink.objects.filter(lookup_key=group.key).values_list("employee_id", flat=True))
        )
    return list(report.values())
