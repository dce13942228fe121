"""Who a privacy request is about: every Inverse Functional Identifier of the person, in the form
the store files agents under (``lrs.xapi.agents.agent_ifi``), from an xAPI agent or from an HRIS
employee id (all identifiers linked to the employee)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from adapters.identity.digests import SHA1_PREFIX, link_addresses, mailbox_sha1_keys
from adapters.identity.history import actor_ifis, rows_naming
from adapters.identity.resolution import (
    actor_lookup_key,
    agent_keys,
    email_lookup_key,
    linked_to,
    retention_pseudonym_homepage,
)
from adapters.models import Employee, ErasureRequest, IdentityChange, IdentityLink
from adapters.rules.keys import held_key_of
from adapters.secrets import pseudonym_keys, secret_keys
from lrs.documents.models import Document
from lrs.statements.models import StatementAgent
from lrs.xapi.agents import agent_ifi, validate_actor
from lrs.xapi.json_types import XAPIValidationError


class SubjectError(ValueError):
    """The request names no one the LRS can find; the message says why."""


@dataclass(frozen=True)
class Subject:
    ifis: frozenset[str]
    employee_id: str = ""
    links: tuple[IdentityLink, ...] = field(default=())
    # The identity map's keys of the person (``email:<normalised>`` or the IFI): their links.
    lookup_keys: frozenset[str] = frozenset()
    # The identifier an agent named, when ``ifis`` holds more (an mbox's SHA-1 form).
    named_ifi: str = ""

    @property
    def held_keys(self) -> list[str]:
        """The keys the person's held deliveries wait for, as those record them (a long one as
        its digest, ``adapters.rules.keys.held_key_of``): their lookup keys and the SHA-1 forms of
        their addresses, as given and as a link of the address derives them (the address its
        lookup key normalises: ``adapters.identity.digests``). Each names the same mailbox (Data
        2.4.2.3) and resolves to that link: a delivery held under one, once the person is erased,
        would wait for good, the held report naming them."""
        addresses = [key.removeprefix("email:") for key in self.lookup_keys if key.startswith("email:")]
        sha1_forms = {ifi for ifi in self.ifis if ifi.startswith(SHA1_PREFIX)} | mailbox_sha1_keys(*addresses)
        return sorted({held_key_of(key) for key in self.lookup_keys | sha1_forms})

    @property
    def fingerprint(self) -> str:
        """A keyed hash of who was named (the employee id, else the identifier or identifiers):
        recognises a repeat request without keeping them."""
        return self.fingerprints[0]

    @property
    def fingerprints(self) -> list[str]:
        """``fingerprint`` under every key (``keyed_hashes``): a request made before a rotation."""
        if self.employee_id:
            return keyed_hashes(f"employee:{self.employee_id}")
        return keyed_hashes(self.named_ifi or "\n".join(sorted(self.ifis)))

    @property
    def statement_ifis(self) -> frozenset[str]:
        """``ifis`` and the pseudonym a pseudonymising retention gives each of them (README
        "Retention"): statements it aged out name the person under those, which the LRS can
        link back to them, and their effects stay at the targets until an erasure takes them."""
        home_page = retention_pseudonym_homepage()
        # Under every key (``pseudonym_keys``): retention before a SECRET_KEY rotation used the old.
        keys = pseudonym_keys()
        return self.ifis | {
            agent_ifi({"account": pseudonym(ifi, home_page, key)}) for ifi in self.ifis for key in keys
        }


def pseudonym(ifi: str, home_page: str = "", key: bytes = b"") -> dict[str, str]:
    """The stable pseudonymous account of an IFI, keyed (``key``, by default the first of
    ``pseudonym_keys``: ``LRS_PSEUDONYM_KEY``, else from SECRET_KEY) on ``home_page`` (retention's),
    by default ``LRS_PSEUDONYM_HOMEPAGE`` (an erased person's)."""
    name = hmac.new(key or pseudonym_keys()[0], ifi.encode(), hashlib.sha256).hexdigest()[:40]
    return {"homePage": home_page or settings.LRS_PSEUDONYM_HOMEPAGE, "name": name}


def keyed_hashes(text: str) -> list[str]:
    """The keyed hash of ``text`` a request is known by: under ``SECRET_KEY`` (the first, of a new
    request), then under each of ``SECRET_KEY_FALLBACKS`` (Django's rotation), a request's before."""
    keys = [hashlib.sha256(b"lrs-erasure:" + secret.encode()).digest() for secret in secret_keys()]
    return [hmac.new(key, text.encode(), hashlib.sha256).hexdigest() for key in keys]


def subject_for(*, agent: dict[str, Any] | None = None, employee_id: str | None = None) -> Subject:
    """The person an agent (its IFI, and the identity links under its key; for an ``mbox`` also
    its SHA-1 forms and their ``mbox_sha1sum`` links; for an ``mbox_sha1sum`` also the linked
    addresses it is a SHA-1 form of) or an employee id names: for an employee,
    every identifier linked to them or in their identity history (a leaver the feed unlinked), and
    every spelling of their addresses the store holds (case, ``+alias``, dotless domains: what
    resolution maps to them) with the SHA-1 forms."""
    if (agent is None) == (employee_id is None):
        raise SubjectError("name the person by exactly one of an agent or an employee id")
    if agent is not None:
        if not isinstance(agent, dict):
            raise SubjectError("agent: must be a JSON object with one identifier")
        try:  # as a statement names them: one identifier, well-formed (else found under none)
            validate_actor(agent, path="agent")
        except XAPIValidationError as exc:
            raise SubjectError(str(exc)) from None  # names the path: "agent.mbox: ..."
        ifi = agent_ifi(agent)
        if not ifi:
            raise SubjectError("agent: has no identifier (mbox, mbox_sha1sum, openid or account)")
        key = actor_lookup_key(agent)
        links = tuple(IdentityLink.objects.filter(lookup_key=key)) if key else ()
        ifis = {ifi}
        keys = {key} if key else set()
        if isinstance(agent.get("mbox"), str):  # the same mailbox, as statements may name it hashed
            # The SHA-1 forms resolution takes the mbox by (as given, as filed, as matched:
            # ``agent_keys``), and their explicit ``mbox_sha1sum`` links, which resolve it (Data
            # 2.4.2.3): else an erasure by the address left such a link, and the statements filed
            # under its SHA-1 and their events at the targets, for a request by the SHA-1 to find.
            forms = set(agent_keys(agent)) - keys
            ifis |= forms
            hashed = tuple(IdentityLink.objects.filter(lookup_key__in=sorted(forms)).order_by("id"))
            links += tuple(link for link in hashed if link not in links)
            keys |= {link.lookup_key for link in hashed}
        elif ifi.startswith(SHA1_PREFIX):
            # The SHA-1 of a linked address names that mailbox (Data 2.4.2.3; ``digests``), as
            # resolution takes it (``IdentityDigest``): the request covers the address as one
            # naming it would, its link, the statements filed under it and their effects (else an
            # erasure by the SHA-1 left the address linked and its events at the targets).
            derived = tuple(IdentityLink.objects.filter(digests__lookup_key=ifi).order_by("id"))
            links += tuple(link for link in derived if link not in links)
            keys |= {link.lookup_key for link in derived}
            ifis |= {form for link in derived for form in actor_ifis(link)}
            # And the mailbox it is the SHA-1 of, as an mbox names it: a link derives the SHA-1 of
            # the address its lookup key matches too (``link_sha1_keys``), which a statement may
            # spell as such (``ada@`` for a link of ``ada+lms@``) and resolves by to the link.
            named = {spelled for link in derived for spelled in link_addresses(link)}
            named = {spelled for spelled in named if ifi in mailbox_sha1_keys(spelled)}
            ifis |= {agent_ifi({"mbox": f"mailto:{spelled}"}) or "" for spelled in named} - {""}
            ifis |= mailbox_sha1_keys(*named)
        owners = {link.employee_id for link in links}
        ifis |= _mboxes_hashed({key for key in keys if key.startswith(SHA1_PREFIX)}, owners)
        return Subject(ifis=frozenset(ifis), links=links, lookup_keys=frozenset(keys), named_ifi=ifi)
    employee_id = (employee_id or "").strip()
    if not employee_id:
        raise SubjectError("employee id: required")
    links = tuple(IdentityLink.objects.filter(employee_id=employee_id).order_by("id"))
    keys = {link.lookup_key for link in links}
    linked_addresses: set[str] = set()  # as their history rows spell them, linked here
    for identifier, *states in (
        IdentityChange.objects.filter(employee_id=employee_id)
        .exclude(identifier="")
        .values_list("identifier", "before", "after")
    ):
        keys.add(identifier)
        linked_addresses |= {
            str(state.get("value") or "").strip()
            for state in states
            if isinstance(state, dict) and state.get("kind") == "email"
        } - {""}
    if not keys and not Employee.objects.filter(employee_id=employee_id).exists():
        if ErasureRequest.objects.filter(subject_hash__in=keyed_hashes(f"employee:{employee_id}")).exists():
            return Subject(ifis=frozenset(), employee_id=employee_id)  # erased before: a repeat
        if rows_naming(employee_id).exists():
            # Named only in others' history rows (a link made before the history existed, moved
            # away; no HRIS record): still someone an export shows them to, an erasure blanks.
            return Subject(ifis=frozenset(), employee_id=employee_id)
        raise SubjectError(f"employee id: no identifier is linked to {employee_id!r}")
    ifis = {ifi for link in links for ifi in actor_ifis(link)}
    for key in keys:
        ifis |= _ifis_of_key(key)
    # While linked, an address's SHA-1 forms resolved to the employee, the address as linked among
    # them (adapters.identity.digests); unlinked since (a leaver the feed unlinked), no statement
    # need spell the address for _ifis_of_key to find that form: the history row does.
    ifis |= mailbox_sha1_keys(*linked_addresses)
    ifis |= _mboxes_hashed({key for key in keys if key.startswith(SHA1_PREFIX)}, {employee_id})
    return Subject(ifis=frozenset(ifis), employee_id=employee_id, links=links, lookup_keys=frozenset(keys))


def _mboxes_hashed(sha1_keys: set[str], owners: set[str]) -> set[str]:
    """The ``mbox`` IFIs the store files statements or documents under whose SHA-1 forms are among
    these (as resolution takes an ``mbox`` by them: ``agent_keys``, as filed and as matched; the
    spelling as written is not in the index): an explicit ``mbox_sha1sum`` link resolved them
    (Data 2.4.2.3: the same mailbox), their effects at the targets the person's. Not one whose
    address is linked to someone other than ``owners`` (the employees of the person's links): its
    statements were theirs, or ambiguous, never the person's alone. A SHA-1 does not give back its
    address, so every ``mbox`` agent is read and hashed: a scan of the agent index, as
    ``_ifis_of_key`` does by prefix (an erasure or export is rare)."""
    if not sha1_keys:
        return set()
    mboxes = {"agent_ifi__startswith": "mbox::mailto:"}
    candidates = set(StatementAgent.objects.filter(**mboxes).values_list("agent_ifi", flat=True).distinct())
    candidates |= set(Document.objects.filter(**mboxes).values_list("agent_ifi", flat=True).distinct())
    met: dict[str, str] = {}  # IFI -> its lookup key
    for candidate in candidates:
        keys = agent_keys({"mbox": candidate.removeprefix("mbox::")})
        if keys and sha1_keys.intersection(keys):
            met[candidate] = keys[0]
    others = {key for key, employee in linked_to(set(met.values())) if employee not in owners}
    return {candidate for candidate, key in met.items() if key not in others}


def _ifis_of_key(key: str) -> set[str]:
    """The IFIs a lookup key stands for: an IFI itself, or, for ``email:<normalised>``, every
    spelling of the address among the agents the store files statements or documents under (and
    their SHA-1 forms). The candidates are read by prefix and domain, then kept when resolution
    normalises them to the key (a scan of the agent index and the documents: erasure is rare)."""
    if not key.startswith("email:"):
        return {key}
    address = key.removeprefix("email:")
    local, _, domain = address.rpartition("@")
    near = {"agent_ifi__istartswith": f"mbox::mailto:{local[:1]}", "agent_ifi__iendswith": f"@{domain}"}
    candidates = set(StatementAgent.objects.filter(**near).values_list("agent_ifi", flat=True).distinct())
    # A document's agent may be a spelling no statement uses (a bookmark kept, nothing sent yet).
    candidates |= set(Document.objects.filter(**near).values_list("agent_ifi", flat=True).distinct())
    spellings = {address}
    for ifi in candidates:
        spelled = ifi.removeprefix("mbox::mailto:")
        try:
            if email_lookup_key(spelled) == key:
                spellings.add(spelled)
        except ValueError:
            continue
    found = {agent_ifi({"mbox": f"mailto:{spelled}"}) for spelled in spellings}
    return {ifi for ifi in found if ifi} | mailbox_sha1_keys(*spellings)
