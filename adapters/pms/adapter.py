"""PMS learning events: a completion or score becomes one learning event of the employee.

``POST {base_url}/api/v1/learning-events`` with
``{"employeeId", "eventType", "courseId", "score", "timestamp"}``, an ``Idempotency-Key``
and an OAuth2 client-credentials bearer token. Only these fields leave the LRS.
Retraction on void: ``DELETE {base_url}/api/v1/learning-events/{key}`` (``retraction:
"delete"``) or a ``retraction`` event (``retraction: "event"``).
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from adapters.base import DeliveryContext, OutboundRequest
from adapters.identity.resolution import employee_for_actor
from adapters.oauth import OAUTH_CONFIG_PROPERTIES, OAuthAdapter
from adapters.rules.normalise import score_0_100, utc_iso8601

ADL = "http://adlnet.gov/expapi/verbs/"
DEFAULT_EVENT_TYPES = {
    ADL + "completed": "course_completion",
    ADL + "mastered": "course_completion",
    ADL + "passed": "assessment_scored",
    ADL + "failed": "assessment_scored",
    ADL + "scored": "assessment_scored",
}


def course_id(statement: dict, source: str) -> str:
    """The course the event is about: the statement's activity, or its first parent activity."""
    obj = statement["object"]
    if obj.get("objectType") == "SubStatement":
        obj = obj["object"]
    if source == "parent":
        parents = ((statement.get("context") or {}).get("contextActivities") or {}).get("parent") or []
        if parents:
            return parents[0]["id"]
    return obj.get("id", "")


def event_type(statement: dict, event_types: dict[str, str]) -> str:
    verb_id = statement["verb"]["id"]
    if verb_id in event_types:
        return event_types[verb_id]
    result = statement.get("result") or {}
    # The default filter also takes other verbs with a score or completion: name them by that.
    if isinstance(result.get("score"), dict):
        return "assessment_scored"
    return "course_completion"


class PMSAdapter(OAuthAdapter):
    name = "pms"
    description = "Learning events in the Performance Management System"
    supports_retraction = True
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["base_url", "token_url", "client_id", "client_secret"],
        "additionalProperties": False,
        "properties": {
            "base_url": {"type": "string", "pattern": "^https?://"},
            **OAUTH_CONFIG_PROPERTIES,
            "event_types": {"type": "object", "additionalProperties": {"type": "string", "minLength": 1}},
            "course_id_from": {"enum": ["object", "parent"]},
            "retraction": {"enum": ["delete", "event"]},
            "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 120},
        },
    }

    def _url(self, path: str) -> str:
        return self.config["base_url"].rstrip("/") + path

    def _timeout(self) -> float:
        return float(self.config.get("timeout_seconds", 10))

    def resolve(self, statement: dict, context: DeliveryContext) -> dict[str, Any]:
        return {"employee_id": employee_for_actor(statement["actor"])}

    def event(self, statement: dict, context: DeliveryContext, *, kind: str | None = None) -> dict[str, Any]:
        event_types = {**DEFAULT_EVENT_TYPES, **self.config.get("event_types", {})}
        return {
            "employeeId": context.resolved["employee_id"],
            "eventType": kind or event_type(statement, event_types),
            "courseId": course_id(statement, self.config.get("course_id_from", "object")),
            "score": score_0_100((statement.get("result") or {}).get("score")),
            "timestamp": utc_iso8601(statement["timestamp"]),
        }

    def translate(self, statement: dict, context: DeliveryContext) -> OutboundRequest:
        return OutboundRequest(
            method="POST",
            url=self._url("/api/v1/learning-events"),
            json=self.event(statement, context),
            headers={"Idempotency-Key": context.idempotency_key, "Content-Type": "application/json"},
            timeout=self._timeout(),
        )

    def translate_retraction(self, statement: dict, context: DeliveryContext) -> OutboundRequest:
        original_key = context.idempotency_key.rsplit(":", 1)[0] + ":deliver"
        if self.config.get("retraction", "delete") == "event":
            return OutboundRequest(
                method="POST",
                url=self._url("/api/v1/learning-events"),
                json=self.event(statement, context, kind="retraction"),
                headers={"Idempotency-Key": context.idempotency_key, "Content-Type": "application/json"},
                timeout=self._timeout(),
            )
        return OutboundRequest(
            method="DELETE",
            url=self._url(f"/api/v1/learning-events/{quote(original_key, safe='')}"),
            headers={"Idempotency-Key": context.idempotency_key},
            timeout=self._timeout(),
        )
