"""Which statements a target takes: "completed or scored" by default, narrowed or widened per target.

A statement counts as completed or scored when its verb is one of the ADL
completion verbs, ``result.completion`` is true, or it has a ``result.score``
(xAPI 1.0.3 Data 2.4.5 Result; ADL vocabulary http://adlnet.gov/expapi/verbs/).

A target's filter (JSON, validated by ``FILTER_SCHEMA``) may set:
- ``verbs``: the verb IRIs that count (replaces the default list; widen or narrow),
- ``match_completion`` / ``match_score``: whether completion true / any score count (default true),
- ``activity_ids`` / ``activity_types``: only statements about these activities (narrows),
- ``success``: only statements with this ``result.success`` (narrows),
- ``min_scaled_score``: only statements whose ``result.score.scaled`` is at least this (narrows).
"""

from __future__ import annotations

from typing import Any

DEFAULT_VERBS = (
    "http://adlnet.gov/expapi/verbs/completed",
    "http://adlnet.gov/expapi/verbs/passed",
    "http://adlnet.gov/expapi/verbs/failed",
    "http://adlnet.gov/expapi/verbs/mastered",
)

FILTER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "verbs": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "match_completion": {"type": "boolean"},
        "match_score": {"type": "boolean"},
        "activity_ids": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "activity_types": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "success": {"type": "boolean"},
        "min_scaled_score": {"type": "number", "minimum": -1, "maximum": 1},
    },
}


def _activity(statement: dict) -> dict | None:
    obj = statement.get("object") or {}
    if (obj.get("objectType") or "Activity") != "Activity":
        return None
    return obj


def statement_matches(statement: dict, rules: dict[str, Any] | None) -> bool:
    rules = rules or {}
    result = statement.get("result") or {}
    verb_id = (statement.get("verb") or {}).get("id")
    verbs = rules.get("verbs", DEFAULT_VERBS)
    wanted = (
        verb_id in verbs
        or (rules.get("match_completion", True) and result.get("completion") is True)
        or (rules.get("match_score", True) and isinstance(result.get("score"), dict))
    )
    if not wanted:
        return False
    if "activity_ids" in rules or "activity_types" in rules:
        activity = _activity(statement)
        if activity is None:
            return False
        activity_type = (activity.get("definition") or {}).get("type")
        by_id = activity.get("id") in rules.get("activity_ids", ())
        by_type = activity_type is not None and activity_type in rules.get("activity_types", ())
        if not (by_id or by_type):
            return False
    if "success" in rules and result.get("success") is not rules["success"]:
        return False
    if "min_scaled_score" in rules:
        scaled = (result.get("score") or {}).get("scaled")
        if not isinstance(scaled, (int, float)) or scaled < rules["min_scaled_score"]:
            return False
    return True
