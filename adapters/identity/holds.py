"""Held deliveries: a delivery whose actor maps to no employee (or to several), or to one with no
e-mail address where the target needs one, waits, neither dead nor lost, until its key resolves;
a new identity link releases it (an explicit SHA-1 link: what waits under the address it is the
SHA-1 of too; an address: what waits for its employee to have one). The conflict report groups what waits by
key, with the employees that key matches, naming the identifier a long key's digest stands for."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.db.models import Count, Q
from django.db.models.functions import Length
from django.utils import timezone

from adapters.delivery import queue
from adapters.identity.digests import mailbox_sha1_keys
from adapters.identity.resolution import (
    AMBIGUOUS,
    NO_ADDRESS,
    TERMINATED,
    UNMAPPED,
    actor_lookup_key,
    agent_keys,
    linked_to,
)
from adapters.models import Delivery, IdentityLink
from adapters.rules.keys import DIGEST_PREFIX, HELD_KEY_LIMIT, held_key_of


@dataclass
class _Deferred:
    keys: set[str]
    sha1_links: set[str]


_deferred: ContextVar[_Deferred | None] = ContextVar("identity_releases_deferred", default=None)


@contextmanager
def releases_batched() -> Iterator[None]:
    """Within the block (one transaction: an import of many rows), a release by key collects its
    keys, and one release at the end takes them all: the same deliveries go back to pending (a
    release only resolves them again when sent), but the held actors are read once for the
    import, not once per row that changes an explicit SHA-1 link (``_held_by_mailbox``: 1,000
    rows against 5,000 held deliveries took 279 s so). Nested: the outer block releases."""
    if _deferred.get() is not None:
        yield
        return
    collected = _Deferred(keys=set(), sha1_links=set())
    token = _deferred.set(collected)
    try:
        yield
    finally:
        _deferred.reset(token)
    deliveries_release(keys=collected.keys, sha1_links=collected.sha1_links)


def deliveries_release(
    *,
    keys: Iterable[str] = (),
    ids: Iterable[int] = (),
    sha1_links: Iterable[str] = (),
    addressed: Iterable[str] = (),
) -> list[int]:
    """Held deliveries whose key can now be resolved go back to pending (e.g. a new identity link),
    or these held deliveries (an admin's decision, e.g. after a re-hire): they are resolved again
    when sent, and held again if still unresolved. ``sha1_links``: the lookup keys of the explicit
    ``mbox_sha1sum`` links changed, which an ``mbox`` resolves by too (``agent_keys``): what waits
    under such an address's key is released as well. ``addressed``: employees an e-mail address
    was just linked to; what waits under their links' keys for an address (``NO_ADDRESS``) goes."""
    chosen, wanted, hashed = list(ids), list(keys), set(sha1_links)
    if addressed and not chosen:
        wanted += IdentityLink.objects.filter(employee_id__in=sorted(set(addressed))).values_list(
            "lookup_key", flat=True
        )
    if not chosen and not wanted and not hashed:
        return []
    if (deferred := _deferred.get()) is not None and not chosen:  # released at the block's end
        deferred.keys.update(wanted)
        deferred.sha1_links.update(hashed)
        return []
    held = Delivery.objects.filter(status=Delivery.HELD)
    if chosen:
        held = held.filter(id__in=chosen)
    else:  # as the deliveries recorded them (a long identifier by its digest)
        held = held.filter(held_key__in=sorted({held_key_of(key) for key in wanted}))
    released = list(held.values_list("id", flat=True))
    if hashed and not chosen:
        released = sorted(set(released) | set(_held_by_mailbox(hashed)))
    if not chosen:
        released = sorted(set(released) | set(_held_groups(set(wanted) | hashed)))
    if released:
        Delivery.objects.filter(id__in=released).update(
            status=Delivery.PENDING, next_attempt_at=timezone.now(), held_key="", updated_at=timezone.now()
        )
        queue.after_commit(released)
    return released


def _held_by_mailbox(sha1_keys: set[str]) -> list[int]:
    """Held deliveries waiting under an address (its lookup key, or that key's digest) whose actor,
    or a member of it, is an ``mbox`` with one of these SHA-1 forms. The key does not say how the
    statement spelled the address, which its SHA-1 depends on (as written, as filed): the actors
    are read, one query, only when an explicit SHA-1 link changes (rare; what is held, few; an
    import reads them once: ``releases_batched``)."""
    return [
        delivery_id
        for delivery_id, _key, agents in _held_actors()
        if any(sha1_keys.intersection(agent_keys(agent)) for agent in agents)
    ]


def _held_groups(keys: set[str]) -> list[int]:
    """Held deliveries of an anonymous Group held ambiguous (its members linked to several
    employees) a member of which resolves by one of these keys (``agent_keys``). Such a hold waits
    under its first member's key (``resolution.employee_for_actor``), yet a change of any member's
    link may resolve it (another member moved to the first's employee)."""
    if not keys:
        return []
    return [delivery_id for delivery_id, _key, members in _ambiguous_groups() if keys & members]


def _ambiguous_groups() -> Iterator[tuple[int, str, set[str]]]:
    """(id, held key, every member's ``agent_keys``) of the held deliveries of anonymous Groups held
    ambiguous: one query, of those held ambiguous whose statement has members (few)."""
    waiting = Delivery.objects.filter(
        status=Delivery.HELD, last_error__startswith=AMBIGUOUS, statement__payload__contains='"member"'
    )
    for delivery_id, held_key, payload in waiting.values_list(
        "id", "held_key", "statement__payload"
    ).iterator():
        agents = _agents_of(payload)
        if not agents or actor_lookup_key(agents[0]) is not None:
            continue  # an Agent or an identified Group: held under its own key
        yield delivery_id, held_key, {key for member in agents[1:] for key in agent_keys(member)}


def _held_actors() -> Iterator[tuple[int, str, list[dict]]]:
    """(id, held key, the actor and its members) of the held deliveries waiting under an address's
    key or a digest: one query, their statements' actors as written."""
    waiting = Delivery.objects.filter(
        Q(held_key__startswith="email:") | Q(held_key__startswith=DIGEST_PREFIX), status=Delivery.HELD
    )
    rows = waiting.values_list("id", "held_key", "statement__payload")
    for delivery_id, held_key, payload in rows.iterator():
        if agents := _agents_of(payload):
            yield delivery_id, held_key, agents


def _agents_of(payload: str | None) -> list[dict]:
    """A held statement's actor and its members, as written (the actor first); none if the
    payload is gone or has no actor object. The one reader of held actors for the release, the
    report and the identifier of a digest."""
    try:
        actor = json.loads(payload)["actor"] if payload else None
    except (ValueError, KeyError, TypeError):
        return []
    if not isinstance(actor, dict):
        return []
    members = actor.get("member")
    return (
        [actor, *(member for member in members if isinstance(member, dict))]
        if isinstance(members, list)
        else [actor]
    )


def _sha1_forms_held() -> dict[str, set[str]]:
    """Held key -> the SHA-1 forms of the ``mbox`` agents held under it, as their statements spell
    the address (``agent_keys``: as written, as filed, as matched), which an explicit
    ``mbox_sha1sum`` link may match though the key's own forms do not (a SHA-1 cannot be
    normalised)."""
    forms: dict[str, set[str]] = {}
    for _id, held_key, agents in _held_actors():
        for agent in agents:
            keys = agent_keys(agent)
            if keys and held_key_of(keys[0]) == held_key:  # the agent it waits for (a member)
                forms.setdefault(held_key, set()).update(keys[1:])
    return forms


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
        known = (AMBIGUOUS, TERMINATED, NO_ADDRESS)
        reason = next((each for each in known if row["last_error"].startswith(each)), UNMAPPED)
        group = report.setdefault(
            key, HeldGroup(key=key, reason=reason, deliveries=0, candidates=[], waiting_for=key)
        )
        group.deliveries += row["n"]
    digested = _links_by_digest([key for key in report if key.startswith(DIGEST_PREFIX)])
    spelled = _sha1_forms_held() if report else {}
    for _id, held_key, members in _ambiguous_groups() if report else ():
        spelled.setdefault(held_key, set()).update(members)  # a Group's other members' keys too
    for group in report.values():
        if group.key.startswith(DIGEST_PREFIX):
            group.waiting_for = _identifier_of(group.key)
        keys = [*_keys_of_held(group.key), *sorted(spelled.get(group.key, set()))]
        linked = {employee for _, employee in linked_to(keys)}
        group.candidates = sorted(linked | digested.get(group.key, set()))
    return list(report.values())


def _keys_of_held(held_key: str) -> list[str]:
    """What a held key matches: itself (a SHA-1's address's links too: ``linked_to``) and, for an
    address, the ``mbox_sha1sum`` links of its SHA-1 as matched (``agent_keys``; the statements'
    own spellings' forms are not in the key)."""
    if held_key.startswith("email:"):
        return [held_key, *sorted(mailbox_sha1_keys(held_key.removeprefix("email:")))]
    return [held_key]


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
    keys = (actor_lookup_key(agent) for agent in _agents_of(payload))
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
