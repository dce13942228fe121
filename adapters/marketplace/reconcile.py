"""Reconciling the marketplace record by record: every (member, competency) that statements
stored in the window evidence, the record the live evidence gives now (as a delivery would build
it) against the member's skills the marketplace reports (``GET /api/v1/members/{id}/skills``).

A statement counts for the member its actor names now, as in the PMS's reconciliation: one whose
evidence is recorded under another member (an identity link moved since its delivery) counts for
the member named now and not the former one, so both records show as mismatches, and the repair
runs its delivery again, which moves the evidence and recomputes both. One whose actor names no
one now (unlinked, ambiguous, left before its timestamp) counts for no one, as the PMS's run
expects no event of it: the former member's record shows as a mismatch, and the repair runs its
delivery again, which takes the evidence out, recomputes the record and waits held.

A live statement the target's filter takes that the competency mapping awards a competency but
whose delivery never recorded evidence here (it never ran: a lost broker message, a dead worker)
counts too, with the evidence its delivery would record, for the member its actor names now: the
record it should give is missing, or different where the member's record exists without it, and
the repair runs (or creates) its delivery. One held for a good reason (no member named: unmapped,
ambiguous, left; its delivery cancelled on purpose) is not counted, as the PMS's run counts it
held.

A record whose evidence retention deleted since it was sent (``SkillRecord.evidence_aged_out``)
and that the marketplace holds as sent is reported aged out, not compared: it stands until a
later delivery of the member's recomputes it (README "Retention"), and a repair must not lower
it before then; but one a statement's delivery is owed to (it never ran, or its evidence moved)
is compared, and its repair is that delivery. A record a voided statement stored before retention's
cut-off evidenced (``voided_since``: one the LRS keeps for its dead retraction, or pseudonymised)
is compared too: whatever retention did, the void is known, and the record is owed its
recomputation without that statement."""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from django.db.models import Q

from adapters.base import (
    DELIVER,
    RETRACT,
    AdapterError,
    DeliveryContext,
    DeliveryHeld,
    NothingToSend,
    OutboundRequest,
    RecordPair,
)
from adapters.delivery.replay import pages_taken
from adapters.identity.resolution import employee_for_statement, nothing_for_erased
from adapters.marketplace import skills
from adapters.models import Delivery, SkillEvidence, SkillRecord, Target, skill_records_locked
from adapters.rules.competencies import competencies_for
from adapters.rules.skills import Evidence, skill_state
from lrs.statements.selectors import StatementQuery, statements_keyed_by_pk

if TYPE_CHECKING:
    from adapters.marketplace.adapter import MarketplaceAdapter

CHUNK = 500  # statements whose actors are resolved together


def touched(
    target_id: int, since: datetime, until: datetime, voided_since: datetime | None = None
) -> Iterator[tuple[str, list[str]]]:
    """(member id, competency codes) evidenced by statements stored in the window, and by voided
    ones stored from ``voided_since`` (before the window: retention's cut-off, which leaves a void's
    retraction owed), member by member."""
    stored = Q(statement__stored__gt=since, statement__stored__lte=until)
    if voided_since is not None and voided_since < since:
        stored |= Q(statement__voided=True, statement__stored__gt=voided_since, statement__stored__lte=since)
    rows = (
        SkillEvidence.objects.filter(stored, target_id=target_id)
        .values_list("member_id", "competency_code")
        .distinct()
        .order_by("member_id", "competency_code")
    )
    member, codes = None, []
    for member_id, code in rows.iterator(chunk_size=2000):
        if member_id != member and member is not None:
            yield member, codes
            codes = []
        member = member_id
        codes.append(code)
    if member is not None:
        yield member, codes


def moved(
    adapter: MarketplaceAdapter, target_id: int, context: DeliveryContext, since: datetime, until: datetime
) -> dict[int, str | None]:
    """Live statements stored in the window whose evidence is recorded under a member other than
    the one their actor names now: statement primary key -> the member named now, None when it
    names no one now (unlinked, ambiguous, left: its delivery takes the evidence out). Erased
    evidence is the erasure's (flagged, retracted)."""
    rows = (
        SkillEvidence.objects.filter(
            target_id=target_id,
            statement__stored__gt=since,
            statement__stored__lte=until,
            erased_at__isnull=True,
        )
        .values_list("statement_id", "member_id")
        .distinct()
        .order_by("statement_id")
    )
    found: dict[int, str | None] = {}
    recorded: dict[int, set[str]] = {}
    for pk, member_id in rows.iterator(chunk_size=2000):
        if len(recorded) >= CHUNK and pk not in recorded:
            found |= _moved(adapter, context, recorded)
            recorded = {}
        recorded.setdefault(pk, set()).add(member_id)
    return found | _moved(adapter, context, recorded)


def _moved(
    adapter: MarketplaceAdapter, context: DeliveryContext, recorded: dict[int, set[str]]
) -> dict[int, str | None]:
    live = statements_keyed_by_pk(set(recorded), live_only=True)
    named = _named_now(adapter, context, live, unnamed=True)
    return {pk: member_id for pk, member_id in named.items() if recorded[pk] != {member_id}}


def _named_now(
    adapter: MarketplaceAdapter,
    context: DeliveryContext,
    statements: dict[int, dict[str, Any]],
    *,
    unnamed: bool = False,
) -> dict[int, str | None]:
    """Statement primary key -> the member its actor names now, as a delivery would resolve it;
    a statement naming no one (held: unlinked, ambiguous, left) is left out, or maps to None
    (``unnamed``). One whose actor is a pseudonym (erased, aged out) is left out: its delivery
    sends nothing."""
    named: dict[int, str | None] = {}
    with adapter.prefetch(list(statements.values())):
        for pk, statement in statements.items():
            try:
                nothing_for_erased(statement["actor"])
                named[pk] = employee_for_statement(statement, context)
            except NothingToSend:
                continue
            except DeliveryHeld:
                if unnamed:
                    named[pk] = None
    return named


def undelivered(
    adapter: MarketplaceAdapter, context: DeliveryContext, since: datetime, until: datetime
) -> tuple[dict[int, str], list[tuple[str, Evidence, int]]]:
    """Live statements stored in the window that the target's filter takes and the competency
    mapping awards a competency, with no evidence recorded at this target (erased rows count as
    recorded): statement primary key -> the member its actor names now, and the evidence its
    delivery would record (one row per competency). A statement naming no member now (held),
    whose delivery was cancelled on purpose, or whose delivery ran and recorded nothing (the
    mapping then awarded it nothing: it stands as last evaluated, as one that recorded evidence
    does, until a forced backfill re-evaluates it) is left out."""
    mapping = adapter.competency_mapping()
    if mapping is None:
        return {}, []
    target = Target.objects.get(pk=context.target_id)
    named: dict[int, str] = {}
    rows: list[tuple[str, Evidence, int]] = []
    query = StatementQuery(since=since, until=until, ascending=True, limit=CHUNK)
    for taken, _read, _after in pages_taken(target, query):
        # The awards first (no database): most statements award nothing and cost no query.
        awarding = {
            pk: (statement, awards)
            for pk, statement in taken
            if (awards := competencies_for(statement, mapping))
        }
        if not awarding:
            continue
        recorded = SkillEvidence.objects.filter(target=target, statement_id__in=list(awarding))
        settled = Delivery.objects.filter(
            target=target,
            kind=DELIVER,
            statement_id__in=list(awarding),
            status__in=[Delivery.CANCELLED, Delivery.DELIVERED],
        )
        for pk in {
            *recorded.values_list("statement_id", flat=True),
            *settled.values_list("statement_id", flat=True),
        }:
            del awarding[pk]
        found = _named_now(adapter, context, {pk: statement for pk, (statement, _awards) in awarding.items()})
        named |= {pk: member_id for pk, member_id in found.items() if member_id is not None}
        for pk in found:
            statement, awards = awarding[pk]
            rows += [(award.code, skills.evidence_of(statement, award), pk) for award in awards]
    return named, rows


def record_pairs(
    adapter: MarketplaceAdapter,
    target_name: str,
    target_id: int,
    since: datetime,
    until: datetime,
    *,
    voided_since: datetime | None = None,
) -> Iterator[RecordPair]:
    context = DeliveryContext(
        target_name=target_name,
        kind=DELIVER,
        idempotency_key="",
        target_id=target_id,
        include_terminated=bool(adapter.config.get("include_terminated")),
    )
    # Statements whose evidence belongs under a member it is not recorded under: moved since their
    # delivery, or never recorded at all (their delivery never ran). Both arrive at the member
    # named now, and the repair of the record runs their delivery.
    moves = moved(adapter, target_id, context, since, until)
    arriving = skills.statement_rows(target_id, [pk for pk, member_id in moves.items() if member_id])
    unsent, unsent_rows = undelivered(adapter, context, since, until)
    moves |= unsent
    arriving += unsent_rows
    seen: set[str] = set()
    for member_id, codes in touched(target_id, since, until, voided_since):
        seen.add(member_id)
        yield from _member_pairs(adapter, member_id, codes, moves, arriving, context)
    for member_id in sorted({m for m in moves.values() if m is not None} - seen):  # named now, none recorded
        yield from _member_pairs(adapter, member_id, [], moves, arriving, context)


def _member_pairs(
    adapter: MarketplaceAdapter,
    member_id: str,
    codes: list[str],
    moves: dict[int, str | None],
    arriving: list[tuple[str, Evidence, int]],
    context: DeliveryContext,
) -> Iterator[RecordPair]:
    policy = adapter.config.get("level_policy", "highest")
    context = replace(context, resolved={"member_id": member_id})
    incoming = [row for row in arriving if moves[row[2]] == member_id]
    codes = sorted(set(codes) | {code for code, _item, _pk in incoming})
    recorded = skills.evidence_rows(context.target_id, member_id, codes)
    # Evidence its statement's delivery stopped counting (a corrected mapping, a moved identity)
    # but whose record it has not recomputed yet: that delivery, run again, recomputes it.
    superseded = skills.superseded_rows(context.target_id, member_id, codes)
    # The statement's evidence counts for the member its actor names now (one row per competency).
    rows = [row for row in recorded if moves.get(row[2], member_id) == member_id]
    kept = {(code, pk) for code, _item, pk in rows}
    rows += [row for row in incoming if (row[0], row[2]) not in kept]
    live = statements_keyed_by_pk(
        {pk for _code, _item, pk in rows} | {pk for _c, pk in superseded}, live_only=True
    )
    found = held_at_marketplace(adapter, adapter.subject_id(member_id, context), context)
    held = skills.held_records(context.target_id, member_id, codes)
    for code in codes:
        pieces = {item: pk for row_code, item, pk in rows if row_code == code and pk in live}
        state = skill_state(pieces, policy=policy)
        expected = adapter.record(state, live[pieces[state.deciding]], code, context) if state else None
        moving = [pk for row_code, _item, pk in recorded + incoming if row_code == code and pk in moves]
        moving += [pk for row_code, pk in superseded if row_code == code and pk in live]
        also: tuple[int, ...] = ()
        if moving:  # their deliveries run again move their evidence and recompute both members' records
            (repair_pk, *others), repair_kind = sorted(set(moving)), DELIVER
            also = tuple(others)
        elif state is not None:
            repair_pk, repair_kind = pieces[state.deciding], DELIVER
        else:  # no live evidence: a retraction of any of it recomputes (and deletes)
            repair_pk = next((pk for row_code, _item, pk in rows if row_code == code), None)
            repair_kind = RETRACT
        # Retention deleted evidence of the record since it was sent, and the marketplace holds it
        # as sent: it stands until a later delivery recomputes it (README "Retention"). Unless a
        # delivery is owed to it (``moving``: never ran, or its evidence moved): the repair runs
        # that delivery, which recomputes it as it would have, so the difference is judged.
        holds = found.get(code)
        aged_out = held[code].aged_out and expected != holds and held[code].record == holds and not moving
        yield RecordPair(
            f"{member_id}/{code}", expected, found.get(code), repair_pk, repair_kind, also, aged_out
        )


def held_at_marketplace(adapter: MarketplaceAdapter, member: str, context: DeliveryContext) -> dict[str, Any]:
    url = adapter.config["base_url"].rstrip("/") + f"/api/v1/members/{quote(member, safe='')}/skills"
    request = OutboundRequest(
        method="GET", url=url, timeout=float(adapter.config.get("timeout_seconds", 10)), whole_answer=True
    )
    try:
        records = json.loads(adapter.send(request, context).body or "{}").get("data") or []
    except ValueError:
        raise AdapterError("the marketplace answered the skills list with something not JSON") from None
    return {record.get("competencyCode"): record for record in records}


def forget_held(target_id: int, keys: list[str]) -> None:
    """The records of these keys (``member/competency``) marked unconfirmed, so a delivery sends
    them whatever we believed held. Locked first in the one order (``skill_records_locked``),
    after the repair locked its deliveries (``reconciliation.repair._rewrite_records``)."""
    pairs = [key.rpartition("/") for key in keys]
    if not pairs:
        return
    of_keys = functools.reduce(
        operator.or_, (Q(member_id=member, competency_code=code) for member, _, code in pairs)
    )
    locked = skill_records_locked(SkillRecord.objects.filter(of_keys, target_id=target_id))
    SkillRecord.objects.filter(pk__in=list(locked.values_list("pk", flat=True))).update(unconfirmed=True)
