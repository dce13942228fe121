"""Held deliveries: a delivery whose actor maps to no employee (or to several) waits, neither
dead nor lost, until its key resolves; a new identity link releases it. The conflict report groups
what waits by key, with the employees that key matches, naming the identifier a long key's digest
stands for."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count
from django.db.models.functions import Length
from django.utils import timezone

from adapters.delivery import queue
from adapters.identity.resolution import AMBIGUOUS, TERMINATED, UNMAPPED, actor_lookup_key, linked_to
from adapters.models import Delivery, IdentityLink
from adapters.rules.keys import DIGEST_PREFIX, HELD_KEY_LIMIT, held_key_of


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
    # What they wait for: the key, or, for a key kept as its digest, the identifier it stands for.
    waiting_for: str = ""


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
        group = report.setdefault(
            key, HeldGroup(key=key, reason=reason, deliveries=0, candidates=[], waiting_for=key)
        )
        group.deliveries += row["n"]
    digested = _links_by_digest([key for key in report if key.startswith(DIGEST_PREFIX)])
    for group in report.values():
        if group.key.startswith(DIGEST_PREFIX):
            group.waiting_for = _identifier_of(group.key)
        linked = {employee for _, employee in linked_to([group.key])}  # a SHA-1's address's too
        group.candidates = sorted(linked | digested.get(group.key, set()))
    return list(report.values())


def _identifier_of(held_key: str) -> str:
    """The identifier a digest held key stands for, read from the actor of one statement held under
    it (one query per such key: they are rare, keys over ``HELD_KEY_LIMIT`` characters); the digest
    when none gives it (the statement is gone, or the key is not an actor's: a long employee id's
    "terminated:" key)."""
    payload = (
        Delivery.objects.filter(status=Delivery.HELD, held_key=held_key)
        .values_list("statement__payload", flat=True)
        .first()
    )
    try:
        actor = json.loads(payload)["actor"] if payload else {}
    except (ValueError, KeyError, TypeError):
        return held_key
    agents = [actor, *(actor.get("member") or [])] if isinstance(actor, dict) else []
    keys = (actor_lookup_key(agent) for agent in agents if isinstance(agent, dict))
    return next((key for key in keys if key and held_key_of(key) == held_key), held_key)


def _links_by_digest(keys: list[str]) -> dict[str, set[str]]:
    """Held key (a digest) -> the employees linked to the lookup key it stands for: a lookup key
    longer than ``Delivery.held_key`` holds is kept there as its digest (``held_key_of``), yet
    fits an identity link (600 characters), so an ambiguous one has candidates. Only the few links
    that long are read."""
    if not keys:
        return {}
    found: dict[str, set[str]] = {}
    long_links = IdentityLink.objects.annotate(chars=Length("lookup_key")).filter(chars__gt=HELD_KEY_LIMIT)
    for lookup_key, employee_id in long_links.values_list("lookup_key", "employee_id").iterator():
        if (digest := held_key_of(lookup_key)) in keys:
            found.setdefault(digest, set()).add(employee_id)
    return found
