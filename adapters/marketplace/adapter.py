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
the identity link gives (a pseudonym with ``pseudonymise``); no e-mail is needed (the field
mapping sends one when the deciding statement's actor has it and the target is not pseudonymised).

``PUT {base_url}/api/v1/members/{memberId}/skills/{competencyCode}`` with a body built by the CSV
field mapping (``adapters/marketplace/mapping.csv``), where the ``xapi`` source is the statement
giving the level with the skill's aggregates in place of its own (``$`` -> completed,
``timestamp`` -> the latest evidence's, ``result.score`` -> the deciding score) and the ``lrs``
source is the competency (code, level, evidence, mapping version). An optional field whose value
the mapping cannot take (badges given as an object) is left out, so one statement's odd extension
never keeps the member's record from the marketplace; a required one fails the delivery for good.
Competencies come from the active versioned competency mapping (or the configured version).
Deliveries that change the same record are serialised (``adapters.marketplace.skills.exclusive``):
the record is recomputed from the store, sent and recorded under a lock. Each write's
``Idempotency-Key`` carries the record's write number: a retry of a write that went unanswered
keeps its key (the marketplace drops it if the first landed); any other write, even of a record
sent before, is new and is applied.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime
from functools import cache
from typing import Any, ClassVar
from urllib.parse import quote

from adapters.base import (
    DELIVER,
    AdapterError,
    DeliveryContext,
    NothingToSend,
    OutboundRequest,
    RecordPair,
    SendResult,
)
from adapters.identity.resolution import employee_for_statement, prefetched
from adapters.marketplace import reconcile, skills
from adapters.models import CompetencyMapping as CompetencyMappingRow
from adapters.oauth import OAuthAdapter, oauth_target_schema
from adapters.rules.competencies import CompetencyMapping, competencies_for
from adapters.rules.field_mapping import DEFAULT_MAPPING_PATH, FieldMapping, MappingError, load_field_mapping
from adapters.rules.normalise import learning_completed, score_0_100
from adapters.rules.skills import EVIDENCE_LIMIT, POLICIES, SkillState, skill_state
from lrs.statements.selectors import statements_keyed_by_pk

__all__ = ["EVIDENCE_LIMIT", "MarketplaceAdapter", "active_competency_mapping", "field_mapping"]


@cache
def field_mapping(path: str = str(DEFAULT_MAPPING_PATH)) -> FieldMapping:
    return load_field_mapping(path)


def active_competency_mapping(version: str | None = None) -> CompetencyMapping | None:
    rows = CompetencyMappingRow.objects.all()
    row = rows.filter(version=version).first() if version else rows.filter(is_active=True).first()
    if row is None:
        return None
    return CompetencyMapping.from_json({"version": row.version, "rules": row.rules})


def _digest(document: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:16]


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

    def _keys(self, statement: dict, context: DeliveryContext) -> tuple[str, list[str]]:
        """(member id, competency codes) the delivery may change; records the statement's
        evidence on the way (a delivery). ``NothingToSend`` when it touches no competency."""
        if context.kind != DELIVER:
            keys = skills.keys_of_statement(context.target_id, context.statement_pk)
            if not keys:
                raise NothingToSend("the statement evidenced no competency at this target")
            members = {member for member, _code in keys}
            if len(members) > 1:  # one statement, one actor: its identity link changed since
                raise AdapterError(
                    f"the statement evidences skills of several members: {sorted(members)}", permanent=True
                )
            return keys[0][0], sorted(code for _member, code in keys)
        mapping = active_competency_mapping(self.config.get("competency_mapping_version"))
        awards = competencies_for(statement, mapping) if mapping is not None else []
        recorded = skills.keys_of_statement(context.target_id, context.statement_pk)
        if not awards and not recorded:
            version = mapping.version if mapping is not None else "(no mapping is active)"
            raise NothingToSend(f"the statement evidences no competency under mapping {version}")
        member_id = employee_for_statement(statement, context)
        result = statement.get("result") or {}
        codes = skills.evidence_put(
            target_id=context.target_id,
            member_id=member_id,
            statement_pk=context.statement_pk,
            statement=statement,
            awards=awards,
            completed=learning_completed(statement),
            score=score_0_100(result.get("score")),
        )
        return member_id, codes

    def prefetch(self, statements: list[dict]) -> AbstractContextManager[object]:
        return prefetched(statement["actor"] for statement in statements)

    def resolve(self, statement: dict, context: DeliveryContext) -> dict[str, Any]:
        """For each competency the delivery touches: the skill the live evidence gives now, the
        deciding statement, and the record the marketplace last accepted. Which evidence is live
        is read once, with the statements themselves, so the deciding one is always among them."""
        member_id, codes = self._keys(statement, context)
        policy = self.config.get("level_policy", "highest")
        rows = skills.evidence_rows(context.target_id, member_id, codes)
        live = statements_keyed_by_pk({pk for _code, _item, pk in rows}, live_only=True)
        held = skills.held_records(context.target_id, member_id, codes)
        found: dict[str, Any] = {}
        for code in codes:
            pieces = {item: pk for row_code, item, pk in rows if row_code == code and pk in live}
            state = skill_state(pieces, policy=policy)
            found[code] = {
                "state": state,
                "statement": live[pieces[state.deciding]] if state is not None else None,
                "held": held[code],
            }
        return {"member_id": member_id, "skills": found}

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
        # The key names this write (delivery, competency, number, content). A retry of a write that
        # went unanswered, perhaps applied, keeps its number, so the marketplace drops it as a
        # repeat; any other write has a new number, so the marketplace never answers it with an
        # earlier write of the same content (one since overwritten) without applying it.
        number, _writing = self._write(code, record, context)
        suffix = "delete" if record is None else _digest(record)
        return OutboundRequest(
            method="DELETE" if record is None else "PUT",
            url=self.config["base_url"].rstrip("/") + path,
            json=record,
            headers={
                "Idempotency-Key": f"{context.idempotency_key}:{code}:{number}:{suffix}",
                **({"Content-Type": "application/json"} if record is not None else {}),
            },
            timeout=float(self.config.get("timeout_seconds", 10)),
        )

    def translate(self, statement: dict, context: DeliveryContext) -> list[OutboundRequest]:
        requests = [self._request(code, record, context) for code, record in self.changes(context)]
        if not requests:
            raise NothingToSend("the marketplace already holds the records the evidence gives")
        return requests

    translate_retraction = translate

    # -- sending -------------------------------------------------------------------------------

    def effect(self, statement: dict, context: DeliveryContext) -> SendResult:
        """Recompute, send and record the touched records while holding them (see module doc).
        A record is marked unconfirmed before its write goes out and confirmed on success, so a
        write that went unanswered (perhaps applied) is never taken for what the target holds."""
        member_id, codes = self._keys(statement, context)
        lease = 2 * float(self.config.get("timeout_seconds", 10)) * len(codes) + 10
        with skills.exclusive(context.target_id, [(member_id, code) for code in codes], seconds=lease):
            context = replace(context, resolved=self.resolve(statement, context))
            changes = self.changes(context)
            if not changes:
                return SendResult(status_code=None, note="the marketplace already holds the right records")
            result = SendResult(status_code=None)
            for code, record in changes:
                number, writing = self._write(code, record, context)
                skills.record_sending(context.target_id, member_id, code, number=number, writing=writing)
                result = self.send(self._request(code, record, context), context)
                skills.record_held(context.target_id, member_id, code, record)
            return result

    def send(self, request: OutboundRequest, context: DeliveryContext) -> SendResult:
        try:
            return super().send(request, context)
        except AdapterError as error:
            if request.method == "DELETE" and error.status_code == 404:
                return SendResult(status_code=404, body=error.response_body, note="already gone")
            raise

    # -- reconciliation (adapters/marketplace/reconcile.py) ---------------------------------------

    @property
    def reconciles_records(self) -> bool:
        return True

    def record_pairs(
        self, target_name: str, target_id: int, since: datetime, until: datetime
    ) -> Iterator[RecordPair]:
        return reconcile.record_pairs(self, target_name, target_id, since, until)

    def record_needs_rewrite(self, target_id: int, key: str) -> None:
        reconcile.forget_held(target_id, key)
