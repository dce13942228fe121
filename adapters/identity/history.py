"""The identity history (``IdentityChange``): one append-only row per change of a link or of an
employee record, and, for a link taken away from an employee, the deliveries already made under
that mapping: reported, never rewritten (a PMS event for E1 may be right or wrong; an operator
decides, with ``manage.py reconcile`` and its repair, not the identity import)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Q, QuerySet

from adapters.base import DELIVER
from adapters.identity.digests import digests_of
from adapters.models import Delivery, IdentityChange, IdentityLink
from lrs.statements.models import Statement
from lrs.statements.selectors import statement_pks_with_actor
from lrs.xapi.agents import agent_ifi

# Deliveries listed per change at most (the count says whether there were more).
REPORTED_DELIVERIES = 100


def record(
    *,
    employee_id: str,
    action: str,
    source: str,
    changed_by: str = "",
    identifier: str = "",
    before: Any = None,
    after: Any = None,
    delivered_under_previous: Iterable[list[str]] = (),
) -> IdentityChange:
    return IdentityChange.objects.create(
        employee_id=employee_id,
        action=action,
        source=source,
        changed_by=changed_by[:200],
        identifier=identifier,
        before=before,
        after=after,
        delivered_under_previous=list(delivered_under_previous),
    )


def link_state(link: IdentityLink) -> dict[str, str]:
    return {"employee_id": link.employee_id, "kind": link.kind, "value": link.value}


def actor_ifis(link: IdentityLink) -> list[str]:
    """The IFIs (``lrs.xapi.agents.agent_ifi`` form) under which statements of this identifier
    are filed: for an e-mail address, as linked and in lower case (the domain is case-insensitive
    and stored lower-cased; a statement spelling the local part otherwise, or with a ``+alias``,
    is not found here: the report then lists fewer deliveries than were made), and its SHA-1
    forms, which resolve to it: those it derives and those it took over in a move from a link of
    the same key spelled otherwise (``adapters.identity.digests.digests_of``), read while the link
    is still there."""
    if link.kind == "email":
        address = link.value.strip().removeprefix("mailto:")
        local, _, domain = address.rpartition("@")
        forms = {address, f"{local.lower()}@{domain}"}
        ifis = {ifi for form in forms if (ifi := agent_ifi({"mbox": f"mailto:{form}"}))}
        return sorted(ifis | digests_of([link]).get(link.lookup_key, set()))
    if link.kind == "account":
        home_page, _, name = link.value.partition(" ")
        agent: dict[str, Any] = {"account": {"homePage": home_page, "name": name}}
    else:
        agent = {link.kind: link.value}  # openid, mbox_sha1sum
    ifi = agent_ifi(agent)
    return [ifi] if ifi else []


def delivered_under(link: IdentityLink) -> list[list[str]]:
    """[target name, statement id] of the deliveries made for statements of this identifier
    (newest first, at most ``REPORTED_DELIVERIES``)."""
    pks = statement_pks_with_actor(actor_ifis(link), limit=REPORTED_DELIVERIES)
    if not pks:
        return []
    made = (
        Delivery.objects.filter(statement_id__in=pks, kind=DELIVER, status=Delivery.DELIVERED)
        .order_by("-delivered_at")
        .values_list("target__name", "statement_id")[:REPORTED_DELIVERIES]
    )
    rows = list(made)
    uuids = dict(Statement.objects.filter(id__in={pk for _, pk in rows}).values_list("id", "statement_id"))
    return [[target, str(uuids[pk])] for target, pk in rows if pk in uuids]


# Where a history row's ``before`` or ``after`` names an employee.
_NAMING_FIELDS = ("employee_id", "manager_id")


def rows_naming(employee_id: str) -> QuerySet:
    """The history rows whose ``before`` or ``after`` names the employee (as the one an identifier
    was linked to, or as a manager), whoever they are filed under."""
    named = Q()
    for state in ("before", "after"):
        for name in _NAMING_FIELDS:
            named |= Q(**{f"{state}__{name}": employee_id})
    return IdentityChange.objects.filter(named)


def employee_erased(employee_id: str) -> int:
    """Blank ``employee_id`` where history rows filed under other employees name it: a move's
    ``before`` (the employee an identifier was taken from), an HRIS row's manager. An erasure
    deletes the erased employee's own rows and those naming their identifiers; these are the
    others' (an identifier came to them, a hire) and stay, without the erased employee, as their
    employee records stay with the manager blanked (README "Privacy"). Found by the employee id,
    not by an identifier: one linked before the history existed is in no row of the erased
    employee's. The history is append-only but for erasure. Returns how many rows changed."""
    rows = rows_naming(employee_id).exclude(employee_id=employee_id)
    changed = 0
    for change in rows.only("id", "before", "after"):
        IdentityChange.objects.filter(id=change.id).update(
            before=_without(change.before, employee_id), after=_without(change.after, employee_id)
        )
        changed += 1
    return changed


def _without(state: Any, employee_id: str) -> Any:
    if not isinstance(state, dict):
        return state
    return {
        name: "" if name in _NAMING_FIELDS and value == employee_id else value
        for name, value in state.items()
    }
