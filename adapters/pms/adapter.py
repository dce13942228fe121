"""PMS learning events: a completion or score becomes one learning event of the employee.

**What the PMS holds** (the contract; tests/adapters/pms/ check it against the fake PMS):
after any sequence of statements, voids, retries, replays and reorderings, the PMS holds exactly
one learning event per live (stored, not voided) statement the target's filter takes whose actor
maps to an employee (an ``mbox_sha1sum`` actor through its own link or a linked address it is the
SHA-1 of: README "Identities"), and none for any other statement. Each event carries the statement id, the
schema version, the employee id (the HRIS id the identity link gives; no e-mail is needed or
sent), the activity's id and name, the 0-100 score beside the original scale (raw, min, max) and
the statement's timestamp in UTC, and the employee's manager id when the HRIS feed gives one
(``managerId``, for routing to the right review). Nothing else about the learner leaves the LRS.
From the day the HRIS marks an employee terminated, their statements are held (reason
"terminated"), not sent, unless the target sets ``include_terminated``. "Stored" means stored
once: retention ages statements out of the LRS, not out of the PMS (README, "Retention"), so an
event stays after its statement is deleted or pseudonymised by retention (reconciliation does not
judge it: aged out), a void arriving after a deletion reaches no event, and one after a
pseudonymisation retracts the event as before; an erasure removes a person's events.

- ``POST {base_url}/api/v1/learning-events`` with an ``Idempotency-Key`` (statement id + target +
  kind: a retry, replay or forced backfill replays the first answer, never a second event) and an
  OAuth2 client-credentials bearer token. The PMS answers with its own event id, kept with the
  delivery (``Delivery.external_id``).
- A void retracts the statement's events: ``DELETE .../learning-events/{id}`` for the id the
  PMS gave the original and, whenever that may not be all, for each event of the statement a
  look-up by statement id finds (``GET .../learning-events?statementId=``): no id is known (the
  original attempt timed out after the PMS created the event), an attempt may have applied
  without answering, a repair under its own key may have made another, or a reconciliation
  found the voided statement still held (a double at the PMS) and repairs the retraction under
  a key of its own. An event that is not there (never created, already deleted: 404) needs no
  retraction.
  ``retraction: "event"`` instead records a ``retraction`` event for PMSs that keep history. It
  names the employee (and manager) the statement's event at the PMS names, found by a look-up by
  statement id: the learner may have been moved to another employee, unlinked or marked as left
  since, and the PMS must still see the event it holds corrected. No event there, no retraction.
  None for a statement of an erased learner (its pseudonym on ``LRS_PSEUDONYM_HOMEPAGE``); one
  retention pseudonymised (on ``retention_pseudonym_homepage``) is retracted like any other.
- ``pseudonymise: true`` sends a keyed pseudonym of the employee id instead of the id itself.
- A reconciliation repair (a key with ``REPAIR_KEY_MARKER``) replaces: the statement's other
  events at the PMS are deleted before the corrected one is created under the repair's key.
- Read-back for reconciliation: ``GET .../learning-events?updatedSince=&cursor=&limit=``, page by
  page; an event is compared on ``RECONCILED_FIELDS`` (``reconciled``), the manager included: an
  event sent before the HRIS feed gave another manager, or none (a manager's erasure blanks them
  in their reports' records), is different, and its repair replaces it with the event sent now. A
  PMS keeping history (``retraction: "event"``) is not read back (``can_read_back``): it is
  reconciled by our deliveries, which do not record whom an event named, so a manager change is
  not seen there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

from adapters.base import (
    REPAIR_KEY_MARKER,
    AdapterError,
    DeliveryContext,
    NothingToSend,
    OutboundRequest,
    SendResult,
)
from adapters.identity.resolution import (
    employee_for_statement,
    erased_actor,
    manager_of,
    nothing_for_erased,
    prefetched,
)
from adapters.oauth import OAuthAdapter, oauth_target_schema
from adapters.rules.normalise import display_name, score_0_100, utc_iso8601

ADL = "http://adlnet.gov/expapi/verbs/"
SCHEMA_VERSION = "2"
# What reconciliation compares between the event we would send and the one the PMS holds.
RECONCILED_FIELDS = ("employeeId", "managerId", "eventType", "courseId", "score", "timestamp")
READ_BACK_PAGE = 500
DEFAULT_EVENT_TYPES = {
    ADL + "completed": "course_completion",
    ADL + "mastered": "course_completion",
    ADL + "passed": "assessment_scored",
    ADL + "failed": "assessment_scored",
    ADL + "scored": "assessment_scored",
}


def course_activity(statement: dict, source: str) -> dict:
    """The activity the event is about: the statement's, or its first parent activity."""
    obj = statement["object"]
    if obj.get("objectType") == "SubStatement":
        obj = obj["object"]
    if source == "parent":
        parents = ((statement.get("context") or {}).get("contextActivities") or {}).get("parent") or []
        if parents:
            return parents[0]
    return obj


def course_id(statement: dict, source: str) -> str:
    return course_activity(statement, source).get("id", "")


def course_name(statement: dict, source: str, preferred: list[str]) -> str | None:
    """The activity's display name in the preferred language; None when it has none."""
    definition = course_activity(statement, source).get("definition") or {}
    return display_name(definition.get("name"), preferred) or None


def event_type(statement: dict, event_types: dict[str, str]) -> str:
    verb_id = statement["verb"]["id"]
    if verb_id in event_types:
        return event_types[verb_id]
    result = statement.get("result") or {}
    # The default filter also takes other verbs with a score or completion: name them by that.
    if isinstance(result.get("score"), dict):
        return "assessment_scored"
    return "course_completion"


def reconciled(event: dict[str, Any]) -> dict[str, Any]:
    """What reconciliation compares of an event (``RECONCILED_FIELDS``). An event naming no manager
    omits ``managerId`` (the PMS's schema takes no empty one); a PMS answering it null or "" holds
    the same: all three are "", so they hash alike (adapters/reconciliation/tally.py)."""
    record = {name: event.get(name) for name in RECONCILED_FIELDS}
    record["managerId"] = record["managerId"] or ""
    return record


def _number(value: Any) -> float | int | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


class PMSAdapter(OAuthAdapter):
    name = "pms"
    description = "Learning events in the Performance Management System"
    supports_retraction = True
    config_schema: ClassVar[dict[str, Any]] = oauth_target_schema(
        {
            "event_types": {"type": "object", "additionalProperties": {"type": "string", "minLength": 1}},
            "course_id_from": {"enum": ["object", "parent"]},
            "retraction": {"enum": ["delete", "event"]},
            "preferred_languages": {"type": "array", "items": {"type": "string"}},
        }
    )

    @classmethod
    def requests_per_send(cls, config: dict[str, Any]) -> int:
        """The token, a look-up by statement (some retractions, a repair), a DELETE of what it
        found and the POST (a repair replacing one event)."""
        return 4

    def _url(self, path: str) -> str:
        return self.config["base_url"].rstrip("/") + path

    def _timeout(self) -> float:
        return float(self.config.get("timeout_seconds", 10))

    def prefetch(self, statements: list[dict]) -> AbstractContextManager[object]:
        return prefetched(statement["actor"] for statement in statements)

    def resolve(self, statement: dict, context: DeliveryContext) -> dict[str, Any]:
        retracting = context.kind == "retract"
        if retracting and self.config.get("retraction", "delete") == "delete":
            return {"event_ids": self._event_ids(statement, context)}
        # After a pseudonymising erasure (a backfill, a replay, then perhaps a void): the PMS must
        # no longer hear of the person, who is linked to no one. The erasure retracted their
        # events, or reported a PMS keeping history unable to (adapters/privacy). A statement
        # retention pseudonymised is no erased person's: a void of it names whom the PMS's event
        # names, as it would have before (the PMS keeps that event: README "Retention").
        if retracting:
            if erased_actor(statement["actor"]):
                raise NothingToSend("the learner was erased (the actor is a pseudonym): nothing to send")
            return {"retracted": self._held_event(statement)}
        nothing_for_erased(statement["actor"])
        employee_id = employee_for_statement(statement, context)
        resolved: dict[str, Any] = {"employee_id": employee_id, "manager_id": manager_of(employee_id)}
        if REPAIR_KEY_MARKER in context.idempotency_key:
            # A repair replaces: the statement's events the PMS holds, but the one this very key
            # made (a retry of the repair), go before the corrected one is created.
            resolved["replaced"] = [
                str(event["id"])
                for event in self._events_of(statement)
                if event.get("id") and event.get("idempotencyKey") != context.idempotency_key
            ]
        return resolved

    def _events_of(self, statement: dict) -> list[dict[str, Any]]:
        query = urlencode({"statementId": statement["id"]})
        lookup = OutboundRequest(
            method="GET",
            url=self._url(f"/api/v1/learning-events?{query}"),
            timeout=self._timeout(),
            whole_answer=True,
        )
        context = DeliveryContext(target_name="", kind="lookup", idempotency_key="")
        try:
            events = json.loads(self.send(lookup, context).body or "{}").get("data") or []
        except ValueError:
            raise AdapterError("the PMS answered the event look-up with something not JSON") from None
        # Only the statement's own: a PMS that ignored the filter must not have a void delete
        # every event on the page.
        # (UUIDs compared case-blind: a PMS may answer them in capitals.)
        return [event for event in events if str(event.get("statementId")).lower() == statement["id"].lower()]

    def _held_event(self, statement: dict) -> dict[str, Any]:
        """The statement's (latest) learning event a PMS keeping history holds: a retraction event
        names whom it names, as it was sent (the employee id, or its pseudonym)."""
        held = [event for event in self._events_of(statement) if event.get("eventType") != "retraction"]
        if not held:
            raise NothingToSend("the PMS holds no event of this statement")
        if not isinstance(held[-1].get("employeeId"), str) or not held[-1]["employeeId"]:
            raise AdapterError("the PMS's event of this statement names no employee", permanent=True)
        return held[-1]

    def _event_ids(self, statement: dict, context: DeliveryContext) -> list[str]:
        """The PMS's ids of the statement's events: the one it gave the original, and those a
        look-up by statement finds whenever that one may not be all (no id is known; the original
        may have made another: an attempt that applied without answering, a repair under its own
        key; or this is a reconciliation's repair, which found the statement held still, e.g.
        twice). The kept id goes first, so a look-up that does not see it yet still deletes it."""
        kept = [context.original_external_id] if context.original_external_id else []
        if kept and not context.original_uncertain and REPAIR_KEY_MARKER not in context.idempotency_key:
            return kept  # one request, paced like the rest: the look-up is not
        found = [str(event["id"]) for event in self._events_of(statement) if event.get("id")]
        return list(dict.fromkeys([*kept, *found]))

    def event(self, statement: dict, context: DeliveryContext, *, kind: str | None = None) -> dict[str, Any]:
        event_types = {**DEFAULT_EVENT_TYPES, **self.config.get("event_types", {})}
        source = self.config.get("course_id_from", "object")
        score = (statement.get("result") or {}).get("score")
        score = score if isinstance(score, dict) else {}
        employee, manager = self._whom(context)
        return {
            **({"managerId": manager} if manager else {}),
            "statementId": statement["id"],
            "schemaVersion": SCHEMA_VERSION,
            "employeeId": employee,
            "eventType": kind or event_type(statement, event_types),
            "courseId": course_id(statement, source),
            "courseName": course_name(
                statement, source, self.config.get("preferred_languages", ["en-US", "en"])
            ),
            "score": score_0_100(score or None),
            "scoreRaw": _number(score.get("raw")),
            "scoreMin": _number(score.get("min")),
            "scoreMax": _number(score.get("max")),
            "timestamp": utc_iso8601(statement["timestamp"]),
        }

    def _whom(self, context: DeliveryContext) -> tuple[str, str]:
        """``employeeId``, and ``managerId`` ("" when none is known): the HRIS feed's manager, so
        the PMS routes the completion to the right review. A retraction event copies the event
        it retracts."""
        retracted = context.resolved.get("retracted")
        if retracted is not None:
            manager = retracted.get("managerId")
            return retracted["employeeId"], manager if isinstance(manager, str) else ""
        manager = context.resolved.get("manager_id")
        employee = self.subject_id(context.resolved["employee_id"], context)
        return employee, self.subject_id(manager, context) if manager else ""

    def _post(self, event: dict[str, Any], context: DeliveryContext) -> OutboundRequest:
        return OutboundRequest(
            method="POST",
            url=self._url("/api/v1/learning-events"),
            json=event,
            headers={"Idempotency-Key": context.idempotency_key, "Content-Type": "application/json"},
            timeout=self._timeout(),
        )

    def translate(self, statement: dict, context: DeliveryContext) -> list[OutboundRequest]:
        replaced = [self._delete(event_id, context) for event_id in context.resolved.get("replaced", [])]
        return [*replaced, self._post(self.event(statement, context), context)]

    def _delete(self, event_id: str, context: DeliveryContext) -> OutboundRequest:
        return OutboundRequest(
            method="DELETE",
            url=self._url(f"/api/v1/learning-events/{quote(event_id, safe='')}"),
            headers={"Idempotency-Key": f"{context.idempotency_key}:{event_id}"},
            timeout=self._timeout(),
        )

    def translate_retraction(self, statement: dict, context: DeliveryContext) -> list[OutboundRequest]:
        if self.config.get("retraction", "delete") == "event":
            return [self._post(self.event(statement, context, kind="retraction"), context)]
        event_ids = context.resolved["event_ids"]
        if not event_ids:
            raise NothingToSend("the PMS holds no event of this statement")
        return [self._delete(event_id, context) for event_id in event_ids]

    def send(self, request: OutboundRequest, context: DeliveryContext) -> SendResult:
        try:
            result = super().send(request, context)
        except AdapterError as error:
            if request.method == "DELETE" and error.status_code == 404:
                # Already gone (deleted at the PMS, or retracted by an earlier attempt): the
                # state a retraction wants.
                return SendResult(status_code=404, body=error.response_body, note="already gone")
            if request.method == "POST" and error.status_code == 422:
                taken = self._taken_under_key(request)
                if taken is not None:
                    return taken
            raise
        if request.method == "POST":
            try:
                event_id = json.loads(result.body or "{}").get("id")
            except ValueError:
                event_id = None
            if event_id:
                return SendResult(
                    status_code=result.status_code,
                    body=result.body,
                    duration_ms=result.duration_ms,
                    external_id=str(event_id),
                )
        return result

    def _taken_under_key(self, request: OutboundRequest) -> SendResult | None:
        """The event the PMS already made under this request's key, when it refused the request
        for a body that differs from the one it took under that key (422): an earlier attempt
        applied without answering, or a forced backfill, and the event's content changed since
        (the learner's link moved to another employee, the HRIS gave another manager). The event
        made then stands, like any made before such a change (README, "reported, not rewritten");
        reconciliation reports it different, and its repair replaces it."""
        key = request.headers["Idempotency-Key"]
        statement = {"id": str(request.json["statementId"])}
        for event in self._events_of(statement):
            if event.get("idempotencyKey") == key and event.get("id"):
                return SendResult(
                    status_code=200,
                    external_id=str(event["id"]),
                    note="the PMS holds this delivery's event from an earlier attempt, made before "
                    "its content changed: kept, not rewritten",
                )
        return None

    @property
    def can_read_back(self) -> bool:
        return self.config.get("retraction", "delete") == "delete"

    def expected_record(self, statement: dict, context: DeliveryContext) -> dict[str, Any]:
        return reconciled(self.event(statement, context))

    def read_back(self, since: datetime) -> Iterator[tuple[str, dict[str, Any]]]:
        context = DeliveryContext(target_name="", kind="read-back", idempotency_key="")
        query = {
            "updatedSince": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "limit": READ_BACK_PAGE,
        }
        while True:
            request = OutboundRequest(
                method="GET",
                url=self._url(f"/api/v1/learning-events?{urlencode(query)}"),
                timeout=self._timeout(),
                whole_answer=True,
            )
            try:
                page = json.loads(self.send(request, context).body or "{}")
            except ValueError:
                raise AdapterError("the PMS answered the event list with something not JSON") from None
            for event in page.get("data") or []:
                yield str(event.get("statementId")), reconciled(event)
            if not page.get("nextCursor"):
                return
            query["cursor"] = page["nextCursor"]
