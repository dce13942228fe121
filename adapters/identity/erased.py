"""What an erasure (``adapters.privacy.erasure``) takes from the identity map: the person's links,
their identity history and employee record (another employee's rows naming them blanked), and
the held deliveries that would otherwise wait for good for someone no link will ever name again.

A held delivery waits for a resolution (``adapters.identity.holds``). Two kinds can never have
one once the person is erased, so they are cancelled, the reason recorded, in the erasure's
transaction: one held under a key of the person's (their lookup keys, the SHA-1 forms of their
addresses: ``held_keys``); and one of an anonymous Group the person is a member of but not the
only one (another's statement, rewritten with the person as a pseudonym), held under another
member's key (``resolution.employee_for_actor`` holds an ambiguous Group under its first member's
key): such a Group resolves only when every member is the same employee, and the pseudonym is
linked to no one and never will be, so released later it would wait "unmapped" for good under
the pseudonym. One made after the erasure is cancelled so by its delivery
(``resolution.GroupMemberErased``)."""

from __future__ import annotations

import json

from django.utils import timezone

from adapters.identity import history
from adapters.identity.digests import links_delete
from adapters.identity.resolution import GROUP_MEMBER_ERASED, erased_member
from adapters.models import Delivery, Employee, IdentityChange, IdentityLink

HELD_ERASED = "actor erased"  # what a cancelled hold of the person records
ERASED_HOLD_REASONS = (HELD_ERASED, GROUP_MEMBER_ERASED)  # name no one: kept when records are scrubbed


def identity_erase(
    *, lookup_keys: list[str], held_keys: list[str], employee_id: str, statement_pks: list[int]
) -> dict[str, int]:
    """Erase the person's identity records and cancel the holds that named them (module
    docstring); ``statement_pks``: the statements the erasure rewrote, whose Groups' holds are
    looked at. Returns counts per kind, for the request."""
    counts = {"identity_links": 0, "identity_history": 0, "employees": 0, "held_deliveries": 0}
    now = timezone.now()
    if lookup_keys:
        held = Delivery.objects.filter(status=Delivery.HELD, held_key__in=held_keys)
        counts["held_deliveries"] = held.update(
            status=Delivery.CANCELLED, held_key="", last_error=HELD_ERASED, updated_at=now
        )
        counts["identity_links"] = links_delete(IdentityLink.objects.filter(lookup_key__in=lookup_keys))
        # History rows naming the identifiers, whoever they are filed under (a move, a removal):
        # the identifier goes with them (the erasure request records that it happened).
        counts["identity_history"] = IdentityChange.objects.filter(identifier__in=lookup_keys).delete()[0]
    counts["held_deliveries"] += _group_holds_cancelled(statement_pks)
    if employee_id:
        counts["identity_links"] += links_delete(IdentityLink.objects.filter(employee_id=employee_id))
        counts["identity_history"] += IdentityChange.objects.filter(employee_id=employee_id).delete()[0]
        counts["employees"] = Employee.objects.filter(employee_id=employee_id).delete()[0]
        Employee.objects.filter(manager_id=employee_id).update(manager_id="")  # named nowhere any more
        counts["identity_history_scrubbed"] = history.employee_erased(employee_id)  # others' rows
    return counts


def _group_holds_cancelled(statement_pks: list[int]) -> int:
    """Cancel the held deliveries of these (rewritten) statements whose actor is an anonymous
    Group with an erased member (``resolution.erased_member``); how many. Their rows are locked
    already (the erasure locks its statements' deliveries first)."""
    if not statement_pks:
        return 0
    held = Delivery.objects.filter(status=Delivery.HELD, statement_id__in=statement_pks)
    doomed = [
        delivery_id
        for delivery_id, payload in held.values_list("id", "statement__payload")
        if payload and erased_member(json.loads(payload).get("actor") or {})
    ]
    if not doomed:
        return 0
    return Delivery.objects.filter(id__in=doomed).update(
        status=Delivery.CANCELLED, held_key="", last_error=GROUP_MEMBER_ERASED, updated_at=timezone.now()
    )
