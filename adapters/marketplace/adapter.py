"""Marketplace skill records: one record per member and competency, computed from the evidence.

**What the marketplace holds** (the contract; tests/adapters/marketplace/ check it against the
fake marketplace, property-based over orders of arrival and delivery): after any sequence of
statements, voids, retries, replays and reorderings, a member's record for a competency is a
function of the set of *live* (stored, not voided) statements evidencing it that this target took,
whatever order they arrived or were delivered in (``adapters.rules.skills.skill_state``):

- ``level``: the highest level any live evidence earns (``level_policy: "highest"``, default), or
  that of the latest evidence (``"latest"``); ``mappingVersion``: the competency mapping version
  that gave that level;
- ``learningCompleted.date``: the date of the latest live evidence; ``.completed``: whether any
  live evidence is a completion; ``score``: that of the evidence that gives the level;
- ``evidence``: the live statements (id, activity, date), latest first, at most ``EVIDENCE_LIMIT``;
- the record is deleted only when no live evidence remains.

A statement whose evidence leaves the record as the marketplace already holds it sends nothing;
one that changes it sends one ``PUT`` of the recomputed record; a void recomputes from the
remaining evidence (``PUT``, or ``DELETE`` when none is left). Members are named by the employee id
the identity link gives (a pseudonym with ``pseudonymise``; an ``mbox_sha1sum`` actor is linked by
its own link or by the linked address it is the SHA-1 of); no e-mail is needed (the field
mapping sends one when the deciding statement's actor has it and the target is not pseudonymised).
A statement is evidence for the member its delivery last named: run again after an identity link
moved (a forced backfill, a reconciliation repair), its evidence moves to the member named now and
the former member's record is recomputed without it; a void recomputes every member's record it
was evidence for. Run again when its actor names no one (unlinked, ambiguous, or an employee who
left on or before its timestamp, without ``include_terminated``), it evidences no one: each record
it was evidence for is recomputed without it and the delivery waits held, as one made now would,
until the learner is linked again (a link committed while it ran runs it again at once, and the
evidence comes back: ``adapters.delivery.outcomes``). So the marketplace holds evidence of exactly
the statements the PMS holds events of (adapters/pms/adapter.py: none for one whose actor maps to
no employee), and their reconciliations agree. A delivery reads its statement again once it holds
the records it changes and works from that: a statement erased (pseudonymised: its actor names no
one; or hidden) or voided after its batch read it records no evidence and sends nothing of it
(hidden or voided, the delivery ends cancelled, naming the void, as one claimed after it would). A
statement whose actor is a pseudonym (its learner erased) never waits to be linked: its delivery
sends nothing.

``PUT {base_url}/api/v1/members/{memberId}/skills/{competencyCode}`` with a body built by the CSV
field mapping (``adapters/marketplace/mapping.csv``), where the ``xapi`` source is the statement
giving the level with the skill's aggregates in place of its own (``$`` -> completed,
``timestamp`` -> the latest evidence's, ``result.score`` -> the deciding score) and the ``lrs``
source is the competency (code, level, evidence, mapping version). An optional field whose value
the mapping cannot take (badges given as an object) is left out, so one statement's odd extension
never keeps the member's record from the marketplace; a required one fails the delivery for good.
Competencies come from the active versioned competency mapping (or the configured version).
Deliveries that change the same record are serialised (``adapters.marketplace.skills.exclusive``):
the record is recomputed from the store, sent and recorded under a lock. Where a statement's
evidence is recorded is read again, and its evidence recorded, under a lock of the statement's
(``skills.recorded_now``): two runs of its delivery at once (a stalled one and the one that took
it over, an identity link moved in between) never leave it evidence of two members. Each write's
``Idempotency-Key`` names the record (member, competency) and carries its write number: a retry
of a write that went unanswered keeps its key (the marketplace drops it if the first landed); any
other write, even of a record sent before or of another member's record, is new and is applied.
Keys are at most 255 printable ASCII characters: a longer one (a long employee id or competency
code) is sent as its SHA-256 digest (``adapters.rules.keys.fitted``, ``IDEMPOTENCY_KEY_LIMIT``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote

from adapters.base import (
    DELIVER,
    AdapterError,
    DeliveryBusy,
    DeliveryContext,
    DeliveryHeld,
    NothingToSend,
    OutboundRequest,
    RecordPair,
    SendResult,
    StatementGone,
)
from adapters.identity.resolution import employee_for_statement, nothing_for_erased, prefetched, unprefetched
from adapters.marketplace import reconcile, revocation, skills
from adapters.marketplace.mappings import active_competency_mapping, field_mapping
from adapters.marketplace.skills import Plan
from adapters.oauth import OAuthAdapter, oauth_target_schema
from adapters.rules.competencies import CompetencyMapping, competencies_for
from adapters.rules.field_mapping import DEFAULT_MAPPING_PATH, MappingError
from adapters.rules.keys import fitted
from adapters.rules.skills import EVIDENCE_LIMIT, POLICIES, SkillState, skill_state
from lrs.statements.selectors import statements_keyed_by_pk, voided_by

__all__ = ["EVIDENCE_LIMIT", "MarketplaceAdapter", "active_competency_mapping", "field_mapping"]


def _digest(document: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:16]


# The marketplace takes an Idempotency-Key of at most 255 printable ASCII characters (our internal
# contract, as tests/targets/fake_protocol.py enforces it). A key naming a long employee id (up to
# 200 characters, three times that percent-encoded), a long or non-ASCII competency code, or a
# repair of a re-stored statement does not fit: it is sent as its digest instead, stable (a retry
# sends the same); a key that fits is sent as it always was, so a retry keeps its first key.
IDEMPOTENCY_KEY_LIMIT = 255


class MarketplaceAdapter(OAuthAdapter):
    name = "marketplace"
    description = "Skill / competency records in the internal talent marketplace"
    supports_retraction = True
    # A void recomputes the record from the evidence left, whatever became of the original.
    retraction_needs_original = False
    # Recompute, send and record under the record's lock, one delivery after another.
    sequential = True
    config_schema: ClassVar[dict[str, Any]] = oauth_target_schema(
        {
            "competency_mapping_version": {"type": "string", "description": "default: the active version"},
            "field_mapping_path": {
                "type": "string",
                "description": "default: adapters/marketplace/mapping.csv",
            },
            "level_policy": {"enum": list(POLICIES), "description": "highest (default) or latest"},
        }
    )

    # -- what a delivery is about ----------------------------------------------------------------

    def competency_mapping(self) -> CompetencyMapping | None:
        """The configured mapping version, else the active one (None: none is)."""
        return active_competency_mapping(self.config.get("competency_mapping_version"))

    def _plan(self, statement: dict, context: DeliveryContext) -> Plan:
        """What the delivery changes (reads only). ``NothingToSend`` when it touches no competency,
        and for a delivery whose learner was erased (``erased_actor``)."""
        recorded = skills.keys_of_statement(context.target_id, context.statement_pk)
        if context.kind != DELIVER:  # a retraction recomputes every record the statement evidenced
            if not recorded:
                raise NothingToSend("the statement evidenced no competency at this target")
            return Plan(None, [], recorded, recorded=recorded)
        # A pseudonym is linked to no one and never will be: resolving it would hold the delivery
        # for good. Evidence recorded before is the erasure's (flagged, retracted).
        nothing_for_erased(statement["actor"])
        mapping = self.competency_mapping()
        awards = competencies_for(statement, mapping) if mapping is not None else []
        if not awards and not recorded:
            version = mapping.version if mapping is not None else "(no mapping is active)"
            raise NothingToSend(f"the statement evidences no competency under mapping {version}")
        try:
            member_id = employee_for_statement(statement, context)
        except DeliveryHeld as held:
            if not recorded:
                raise
            return Plan(None, [], recorded, held=held, recorded=recorded)  # out it comes, then it waits
        keys = sorted(set(recorded) | {(member_id, award.code) for award in awards})
        return Plan(member_id, awards, keys, recorded=recorded)

    def prefetch(self, statements: list[dict]) -> AbstractContextManager[object]:
        return prefetched(statement["actor"] for statement in statements)

    def resolve(self, statement: dict, context: DeliveryContext) -> dict[str, Any]:
        return self._resolve(statement, context, self._plan(statement, context))

    def _resolve(self, statement: dict, context: DeliveryContext, plan: Plan) -> dict[str, Any]:
        """Records the statement's evidence (a delivery), then per member the delivery touches
        (see ``_by_member``) and per competency: the skill the live evidence gives now, the
        deciding statement, and the record the marketplace last accepted. The statement's evidence
        under a member it no longer names, or for a competency it no longer awards, does not
        count (``evidence_put`` marks it superseded): it is dropped once those records are sent.
        Which evidence is live is read once, with the statements themselves, so the deciding one
        is always among them."""
        if plan.member_id is not None:
            skills.evidence_put(
                target_id=context.target_id,
                member_id=plan.member_id,
                statement_pk=context.statement_pk,
                statement=statement,
                awards=plan.awards,
                supersede=plan.drops,
            )
        elif plan.held is not None:  # counts for no one now
            skills.evidence_withdraw(context.target_id, context.statement_pk)
        policy = self.config.get("level_policy", "highest")
        members: dict[str, list[str]] = {}
        for member_id, code in plan.keys:
            members.setdefault(member_id, []).append(code)
        resolved = []
        for member_id, codes in sorted(members.items()):
            # What we know the marketplace holds first: a record it shows aged out was marked
            # before the evidence is read, so the write recomputed from it may end that mark.
            held = skills.held_records(context.target_id, member_id, codes)
            rows = skills.evidence_rows(context.target_id, member_id, codes)  # none superseded
            live = statements_keyed_by_pk({pk for _code, _item, pk in rows}, live_only=True)
            found: dict[str, Any] = {}
            for code in codes:
                pieces = {item: pk for row_code, item, pk in rows if row_code == code and pk in live}
                state = skill_state(pieces, policy=policy)
                found[code] = {
                    "state": state,
                    "statement": live[pieces[state.deciding]] if state is not None else None,
                    "held": replace(held[code], computed_from=frozenset(pieces.values())),
                }
            resolved.append({"member_id": member_id, "skills": found})
        return {"members": resolved}

    @staticmethod
    def _by_member(context: DeliveryContext) -> Iterator[DeliveryContext]:
        """The delivery's context for each member it touches: the one the statement names now, and
        any its evidence was recorded under before (its identity link moved since)."""
        for member in context.resolved["members"]:
            yield replace(context, resolved=member)

    # -- the records -------------------------------------------------------------------------------

    def record(self, state: SkillState, statement: dict, code: str, context: DeliveryContext) -> dict:
        """The marketplace document of a skill, built by the field mapping (pure)."""
        mapping = field_mapping(self.config.get("field_mapping_path", str(DEFAULT_MAPPING_PATH)))
        sources = mapping.sources_from("xapi", statement)
        sources |= {"xapi:$": state.completed, "xapi:timestamp": state.date}
        sources["xapi:result.score"] = {"raw": state.score} if state.score is not None else None
        if self.pseudonymised:
            sources.pop("xapi:actor.mbox", None)  # no identifier of the learner leaves
        member = context.resolved["member_id"]
        sources |= mapping.sources_from(
            "lrs",
            {
                "competency": {
                    "code": code,
                    "level": state.level,
                    "evidence": [item.to_json() for item in state.evidence],
                    "mapping_version": state.mapping_version,
                }
            },
        )
        sources |= mapping.sources_from("hris", {"employee_id": self.subject_id(member, context)})
        try:
            return mapping.apply(sources)
        except MappingError as exc:
            raise AdapterError(f"cannot build the skill record: {exc}", permanent=True) from None

    def changes(self, context: DeliveryContext) -> list[tuple[str, dict | None]]:
        """(competency code, the record to hold; None: none) where it differs from the held one,
        or where what the marketplace holds is unknown (an earlier write went unanswered)."""
        wanted = []
        for code, skill in sorted(context.resolved["skills"].items()):
            state, statement = skill["state"], skill["statement"]
            record = self.record(state, statement, code, context) if state is not None else None
            if skill["held"].record is skills.UNKNOWN or record != skill["held"].record:
                wanted.append((code, record))
        return wanted

    @staticmethod
    def _write(code: str, record: dict | None, context: DeliveryContext) -> tuple[int, str]:
        """(number, identity) of the write of ``record``: the record's next number, or that of
        the write still unanswered when this is a retry of it (same delivery, same content)."""
        held: skills.Held = context.resolved["skills"][code]["held"]
        writing = _digest({"delivery": context.idempotency_key, "record": record})
        return (held.writes if held.writing == writing else held.writes + 1), writing

    def _request(self, code: str, record: dict | None, context: DeliveryContext) -> OutboundRequest:
        member = quote(self.subject_id(context.resolved["member_id"], context), safe="")
        path = f"/api/v1/members/{member}/skills/{quote(code, safe='')}"
        # The key names this write (delivery, member, competency, number, content). A retry of a
        # write that went unanswered, perhaps applied, keeps its number, so the marketplace drops it
        # as a repeat; any other write has a new number, so the marketplace never answers it with an
        # earlier write of the same content (one since overwritten) without applying it. The member
        # (as the path names it: percent-encoded, so the key stays ASCII) is in it because numbers
        # count per record: one delivery may delete two members' records of a competency at the
        # same number, and a marketplace keeping keys across paths would take the second for a
        # repeat of the first.
        number, _writing = self._write(code, record, context)
        suffix = "delete" if record is None else _digest(record)
        return OutboundRequest(
            method="DELETE" if record is None else "PUT",
            url=self.config["base_url"].rstrip("/") + path,
            json=record,
            headers={
                "Idempotency-Key": fitted(
                    f"{context.idempotency_key}:{member}:{code}:{number}:{suffix}",
                    IDEMPOTENCY_KEY_LIMIT,
                    ascii_only=True,
                ),
                **({"Content-Type": "application/json"} if record is not None else {}),
            },
            timeout=float(self.config.get("timeout_seconds", 10)),
        )

    def translate(self, statement: dict, context: DeliveryContext) -> list[OutboundRequest]:
        requests = [
            self._request(code, record, member)
            for member in self._by_member(context)
            for code, record in self.changes(member)
        ]
        if not requests:
            raise NothingToSend("the marketplace already holds the records the evidence gives")
        return requests

    translate_retraction = translate

    # -- sending -------------------------------------------------------------------------------

    def effect(self, statement: dict, context: DeliveryContext) -> SendResult:
        """Recompute, send and record the touched records while holding them (see module doc).
        A record is marked unconfirmed before its write goes out and confirmed on success, so a
        write that went unanswered (perhaps applied) is never taken for what the target holds."""
        plan = self._plan(statement, context)
        # Each write may take a token, a 401, a fresh token and the write again: four requests.
        lease = 4 * float(self.config.get("timeout_seconds", 10)) * len(plan.keys) + 10
        if context.room_for is not None and not context.room_for(lease):  # its claim could run out
            raise DeliveryBusy(f"the delivery's claim cannot cover {len(plan.keys)} record(s) now; not sent")
        with skills.exclusive(context.target_id, plan.keys, seconds=lease) as lease_token:
            if context.kind == DELIVER:
                statement, plan = self._as_stored_now(statement, context, plan)
            with skills.recorded_now(context.target_id, context.statement_pk, plan) as plan:
                context = replace(context, resolved=self._resolve(statement, context, plan))
            result = SendResult(status_code=None, note="the marketplace already holds the right records")
            for member in self._by_member(context):
                member_id, changes = member.resolved["member_id"], self.changes(member)
                for code, record in changes:
                    number, writing = self._write(code, record, member)
                    skills.record_sending(
                        context.target_id, member_id, code, number=number, writing=writing, lease=lease_token
                    )
                    result = self.send(self._request(code, record, member), member)
                    seen, target_id = member.resolved["skills"][code]["held"], context.target_id
                    skills.record_held(target_id, member_id, code, record, lease=lease_token, seen=seen)
                sent, found = dict(changes), member.resolved["skills"]
                unchanged = {code: skill["held"] for code, skill in found.items() if code not in sent}
                skills.recomputed(context.target_id, member_id, unchanged, lease=lease_token)
            if plan.drops:
                # Only now that their records are recomputed without it: a delivery that stops
                # before this point leaves the rows, so its retry recomputes those records again.
                target_id, pk = context.target_id, context.statement_pk
                skills.evidence_drop(target_id, pk, keep_member=plan.member_id, keep_codes=plan.awarded)
            if plan.held is not None:
                raise plan.held
            return result

    def _as_stored_now(self, statement: dict, context: DeliveryContext, plan: Plan) -> tuple[dict, Plan]:
        """The statement as stored now, and the plan it gives, read once this delivery holds its
        records (one query). The batch read the statement and prefetched its actor's identity links
        before: an erasure that committed since pseudonymised it (its actor now names no one:
        nothing to send, and no evidence recorded that the erasure could not flag) or hid it
        (nothing to send). A changed statement is resolved afresh, without the batch's prefetch;
        one that now touches records this delivery does not hold runs again."""
        pk = context.statement_pk
        current = statements_keyed_by_pk([pk], live_only=True).get(pk) if pk is not None else statement
        if current is None:
            voiding = voided_by([pk]).get(pk)  # pk is known: without one, current is the statement
            how = f"voided by {voiding}" if voiding else "voided or erased"
            raise StatementGone(f"statement {statement.get('id')} was {how} while its delivery waited")
        if current == statement:
            return statement, plan
        with unprefetched():
            fresh = self._plan(current, context)
        if not set(fresh.keys) <= set(plan.keys):
            raise DeliveryBusy("the statement changed while its delivery waited: it runs again")
        return current, fresh

    def send(self, request: OutboundRequest, context: DeliveryContext) -> SendResult:
        try:
            return super().send(request, context)
        except AdapterError as error:
            if request.method == "DELETE" and error.status_code == 404:
                return SendResult(status_code=404, body=error.response_body, note="already gone")
            raise

    def erasure_revocations(self, member_ids: list[str], context: DeliveryContext) -> int:
        return revocation.revoke(self, member_ids, context, key_limit=IDEMPOTENCY_KEY_LIMIT)

    # -- reconciliation (adapters/marketplace/reconcile.py) ---------------------------------------

    @property
    def reconciles_records(self) -> bool:
        return True

    def record_pairs(
        self,
        target_name: str,
        target_id: int,
        since: datetime,
        until: datetime,
        *,
        voided_since: datetime | None = None,
    ) -> Iterator[RecordPair]:
        return reconcile.record_pairs(self, target_name, target_id, since, until, voided_since=voided_since)

    def records_need_rewrite(self, target_id: int, keys: list[str]) -> None:
        reconcile.forget_held(target_id, keys)
