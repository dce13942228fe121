"""Who a privacy request is about: every Inverse Functional Identifier of the person, in the form
the store files agents under (``lrs.xapi.agents.agent_ifi``), from an xAPI agent or from an HRIS
employee id (all identifiers linked to the employee)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from adapters.identity.history import actor_ifis
from adapters.identity.resolution import actor_lookup_key
from adapters.models import IdentityLink
from lrs.xapi.agents import agent_ifi


class SubjectError(ValueError):
    """The request names no one the LRS can find; the message says why."""


@dataclass(frozen=True)
class Subject:
    ifis: frozenset[str]
    employee_id: str = ""
    links: tuple[IdentityLink, ...] = field(default=())
    # The identity map's keys of the person (``email:<normalised>`` or the IFI): their links.
    lookup_keys: frozenset[str] = frozenset()

    @property
    def fingerprint(self) -> str:
        """A keyed hash of the identifiers: recognises a repeat request without keeping them."""
        key = hashlib.sha256(b"lrs-erasure:" + settings.SECRET_KEY.encode()).digest()
        return hmac.new(key, "\n".join(sorted(self.ifis)).encode(), hashlib.sha256).hexdigest()


def subject_for(*, agent: dict[str, Any] | None = None, employee_id: str | None = None) -> Subject:
    """The person an agent (its IFI, and the employee it is linked to, if any) or an employee id
    (all of its linked identifiers) names."""
    if (agent is None) == (employee_id is None):
        raise SubjectError("name the person by exactly one of an agent or an employee id")
    if agent is not None:
        if not isinstance(agent, dict):
            raise SubjectError("agent: must be a JSON object with one identifier")
        ifi = agent_ifi(agent)
        if not ifi:
            raise SubjectError("agent: has no identifier (mbox, mbox_sha1sum, openid or account)")
        key = actor_lookup_key(agent)
        links = tuple(IdentityLink.objects.filter(lookup_key=key)) if key else ()
        return Subject(ifis=frozenset({ifi}), links=links, lookup_keys=frozenset({key} if key else ()))
    employee_id = (employee_id or "").strip()
    links = tuple(IdentityLink.objects.filter(employee_id=employee_id).order_by("id"))
    if not employee_id or not links:
        raise SubjectError(f"employee id: no identifier is linked to {employee_id!r}")
    return Subject(
        ifis=frozenset(ifi for link in links for ifi in actor_ifis(link)),
        employee_id=employee_id,
        links=links,
    )
