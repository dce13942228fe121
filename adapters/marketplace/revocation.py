"""An erased member's records that no evidence rests on any more: revoked at the marketplace.

A deleting retention removes aged-out statements with their evidence, and the marketplace keeps
the records they gave (README "Retention": until a later statement of the member recomputes them);
the LRS keeps its copy of what the marketplace holds (``SkillRecord``, marked
``evidence_aged_out``). An erasure's retractions recompute only the records the person's erased
evidence went into, so such a record would outlive the erasure at the marketplace, and its copy,
naming the member, in the LRS. The erasure's finish (``adapters.privacy.per_target``) revokes them
here: a ``DELETE`` of each, written as any record write is (under the record's lease, numbered,
marked unconfirmed until answered: ``adapters.marketplace.skills``), under a key naming the
erasure request, so a retry is the same write. A record the evidence still gives (the member's
live evidence, or another statement's) is left to the retractions, read again once the leases
are held (a delivery may have recorded some in between)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING
from urllib.parse import quote

from adapters.base import DeliveryContext, OutboundRequest
from adapters.marketplace import skills
from adapters.models import unevidenced_held
from adapters.rules.keys import fitted

if TYPE_CHECKING:
    from adapters.marketplace.adapter import MarketplaceAdapter


def unevidenced(target_id: int, member_ids: list[str]) -> list[skills.Key]:
    """The (member, competency) records the marketplace may hold (accepted, or a write
    unanswered) for these members with no evidence row left (retention deleted it)."""
    return sorted(unevidenced_held(target_id, member_ids).values_list("member_id", "competency_code"))


def revoke(
    adapter: MarketplaceAdapter, member_ids: list[str], context: DeliveryContext, *, key_limit: int
) -> int:
    """Delete those records at the marketplace (``unevidenced``); how many. Raises what a write
    raises (``AdapterError``; ``DeliveryBusy`` while a delivery holds one of them): the caller tries
    again later, each write under the same key (at most ``key_limit`` characters)."""
    target_id = context.target_id
    keys = unevidenced(target_id, member_ids) if target_id is not None and member_ids else []
    if not keys:
        return 0
    lease = 4 * float(adapter.config.get("timeout_seconds", 10)) * len(keys) + 10
    with skills.exclusive(target_id, keys, seconds=lease) as token:
        # Read again under the leases: a delivery of the member's (linked again) may have recorded
        # evidence and written the record since the first read, and let its lease go; a record
        # evidence rests on is the deliveries' to recompute, not ours to revoke.
        keys = [key for key in unevidenced(target_id, member_ids) if key in set(keys)]
        for member_id, code in keys:
            seen = skills.held_records(target_id, member_id, [code])[code]
            writing = hashlib.sha256(f"{context.idempotency_key}:delete".encode()).hexdigest()[:16]
            number = seen.writes if seen.writing == writing else seen.writes + 1
            skills.record_sending(target_id, member_id, code, number=number, writing=writing, lease=token)
            adapter.send(_deletion(adapter, (member_id, code), number, context, key_limit), context)
            skills.record_held(target_id, member_id, code, None, lease=token, seen=seen)
    return len(keys)


def _deletion(
    adapter: MarketplaceAdapter, key: skills.Key, number: int, context: DeliveryContext, key_limit: int
) -> OutboundRequest:
    """The record's ``DELETE``, as a delivery's write of it is made (``MarketplaceAdapter._request``)."""
    member_id, code = key
    member = quote(adapter.subject_id(member_id, context), safe="")
    return OutboundRequest(
        method="DELETE",
        url=adapter.config["base_url"].rstrip("/")
        + f"/api/v1/members/{member}/skills/{quote(code, safe='')}",
        headers={
            "Idempotency-Key": fitted(
                f"{context.idempotency_key}:{member}:{code}:{number}:delete", key_limit, ascii_only=True
            )
        },
        timeout=float(adapter.config.get("timeout_seconds", 10)),
    )
