"""Reconciling the marketplace record by record: every (member, competency) that statements
stored in the window evidence, the record the live evidence gives now (as a delivery would build
it) against the member's skills the marketplace reports (``GET /api/v1/members/{id}/skills``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from adapters.base import DELIVER, RETRACT, AdapterError, DeliveryContext, OutboundRequest, RecordPair
from adapters.marketplace import skills
from adapters.models import SkillEvidence, SkillRecord
from adapters.rules.skills import skill_state
from lrs.statements.selectors import statements_keyed_by_pk

if TYPE_CHECKING:
    from adapters.marketplace.adapter import MarketplaceAdapter


def touched(target_id: int, since: datetime, until: datetime) -> Iterator[tuple[str, list[str]]]:
    """(member id, competency codes) evidenced by statements stored in the window, member by member."""
    rows = (
        SkillEvidence.objects.filter(
            target_id=target_id, statement__stored__gt=since, statement__stored__lte=until
        )
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


def record_pairs(
    adapter: MarketplaceAdapter, target_name: str, target_id: int, since: datetime, until: datetime
) -> Iterator[RecordPair]:
    policy = adapter.config.get("level_policy", "highest")
    for member_id, codes in touched(target_id, since, until):
        context = DeliveryContext(
            target_name=target_name,
            kind=DELIVER,
            idempotency_key="",
            target_id=target_id,
            resolved={"member_id": member_id},
        )
        rows = skills.evidence_rows(target_id, member_id, codes)
        live = statements_keyed_by_pk({pk for _code, _item, pk in rows}, live_only=True)
        found = held_at_marketplace(adapter, adapter.subject_id(member_id, context), context)
        for code in codes:
            pieces = {item: pk for row_code, item, pk in rows if row_code == code and pk in live}
            state = skill_state(pieces, policy=policy)
            expected = adapter.record(state, live[pieces[state.deciding]], code, context) if state else None
            if state is not None:
                repair_pk, repair_kind = pieces[state.deciding], DELIVER
            else:  # no live evidence: a retraction of any of it recomputes (and deletes)
                repair_pk = next((pk for row_code, _item, pk in rows if row_code == code), None)
                repair_kind = RETRACT
            yield RecordPair(f"{member_id}/{code}", expected, found.get(code), repair_pk, repair_kind)


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


def forget_held(target_id: int, key: str) -> None:
    member_id, _, code = key.rpartition("/")
    SkillRecord.objects.filter(target_id=target_id, member_id=member_id, competency_code=code).update(
        unconfirmed=True
    )
