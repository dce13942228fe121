"""Context (and, for xAPI 2.0, Context Agents and Context Groups).

xAPI 1.0.3 Data 2.4.6 (Context) and 2.4.6.2 (ContextActivities Property):
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#246-context
IEEE 9274.1.1 (xAPI 2.0) 4.2.2.5 (Context, Context Agents and Context Group tables).

* ``registration`` UUID; ``instructor`` an Agent (MAY be a Group); ``team`` a
  Group; ``revision``, ``platform`` strings; ``language`` an RFC 5646 tag;
  ``statement`` a Statement Reference; ``extensions``.
* "The "revision" property MUST only be used if the Statement's Object is an
  Activity"; likewise "platform" (rule ``context-revision-platform``).
* "Every key in the contextActivities Object MUST be one of parent, grouping,
  category, or other"; "Every value ... MUST be either a single Activity Object
  or an array of Activity Objects."
* 2.0 only: ``contextAgents`` is an array of ``{"objectType": "contextAgent",
  "agent": Agent, "relevantTypes": [IRI, ...]}`` and ``contextGroups`` an array
  of ``{"objectType": "contextGroup", "group": Group, "relevantTypes": [...]}``;
  relevantTypes is optional but is "A collection of 1 or more Relevant Type(s)"
  (the ADL 2.0 conformance suite rejects an empty array). In 1.0.3 both
  properties are unknown and rejected.
"""

from __future__ import annotations

from typing import Any

from lrs.xapi.activities import validate_activity
from lrs.xapi.agents import validate_actor, validate_agent, validate_group
from lrs.xapi.errors import ErrorCollector
from lrs.xapi.extensions import validate_extensions
from lrs.xapi.iris import is_iri
from lrs.xapi.json_types import check_properties, fail, require_array, require_object, require_string, short
from lrs.xapi.language_maps import validate_language_tag
from lrs.xapi.statement_refs import validate_statement_ref
from lrs.xapi.uuids import validate_uuid
from lrs.xapi.valid_memo import remembers_valid
from lrs.xapi.versions import is_v2

CONTEXT_ACTIVITY_TYPES = ("parent", "grouping", "category", "other")
_PROPERTIES_V1 = frozenset(
    {
        "registration",
        "instructor",
        "team",
        "contextActivities",
        "revision",
        "platform",
        "language",
        "statement",
        "extensions",
    }
)
_PROPERTIES_V2 = _PROPERTIES_V1 | {"contextAgents", "contextGroups"}
_CONTEXT_ACTIVITIES_PROPERTIES = frozenset(CONTEXT_ACTIVITY_TYPES)
_CONTEXT_AGENT_PROPERTIES = frozenset({"objectType", "agent", "relevantTypes"})
_CONTEXT_GROUP_PROPERTIES = frozenset({"objectType", "group", "relevantTypes"})


@remembers_valid()
def _validate_context_activities(obj: object, *, path: str) -> dict[str, Any]:
    context_activities = require_object(obj, path)
    check_properties(context_activities, path, _CONTEXT_ACTIVITIES_PROPERTIES, what="contextActivities")
    found = ErrorCollector()  # every context activity is checked on its own
    for kind, value in context_activities.items():
        kind_path = f"{path}.{kind}"
        if type(value) is dict:  # a single Activity, allowed for 0.95 compatibility
            with found:
                validate_activity(value, path=kind_path)
            continue
        with found:
            activities = require_array(value, kind_path)
        if not found.passed:
            continue
        for index, activity in enumerate(activities):
            with found:
                validate_activity(activity, path=f"{kind_path}[{index}]")
    found.raise_if_any()
    return context_activities


def _validate_relevant_types(value: object, path: str) -> None:
    relevant_types = require_array(value, path)
    if not relevant_types:
        fail("relevantTypes must list at least one IRI when present", path, "min-items")
    for index, item in enumerate(relevant_types):
        item_path = f"{path}[{index}]"
        if not is_iri(require_string(item, item_path)):
            fail(f"relevantTypes entries must be absolute IRIs, got {short(item)}", item_path, "iri")


def _validate_context_members(value: object, path: str, *, kind: str, version: str) -> None:
    """contextAgents (kind ``agent``) or contextGroups (kind ``group``)."""
    object_type = "contextAgent" if kind == "agent" else "contextGroup"
    allowed = _CONTEXT_AGENT_PROPERTIES if kind == "agent" else _CONTEXT_GROUP_PROPERTIES
    items = require_array(value, path)
    for index, item in enumerate(items):
        item_path = f"{path}[{index}]"
        entry = require_object(item, item_path)
        check_properties(entry, item_path, allowed, ("objectType", kind), what=f"a {object_type}")
        if entry["objectType"] != object_type:
            fail(
                f"objectType must be {object_type!r}, got {short(entry['objectType'])}",
                f"{item_path}.objectType",
                "objecttype",
            )
        if kind == "agent":
            validate_agent(entry["agent"], path=f"{item_path}.agent", version=version)
        else:
            validate_group(entry["group"], path=f"{item_path}.group", version=version)
        if "relevantTypes" in entry:
            _validate_relevant_types(entry["relevantTypes"], f"{item_path}.relevantTypes")


# A statement's registration is its own, the rest of its context is shared with many others: the
# rest is remembered valid, the registration checked each time.
@remembers_valid("version", "object_is_activity", varying={"registration": validate_uuid})
def validate_context(
    obj: object, *, path: str, version: str = "1.0.3", object_is_activity: bool = True
) -> dict[str, Any]:
    """Validate a Context; ``object_is_activity`` tells whether the statement's object is an Activity."""
    context = require_object(obj, path)
    v2 = is_v2(version)
    if not v2:
        for name in ("contextAgents", "contextGroups"):
            if name in context:
                fail(
                    f"context.{name} is an xAPI 2.0 property; send X-Experience-API-Version 2.0.0 to use it",
                    f"{path}.{name}",
                    "unknown-property",
                )
    found = ErrorCollector()  # every property is checked on its own
    with found:
        check_properties(context, path, _PROPERTIES_V2 if v2 else _PROPERTIES_V1, what="a Context")
    if not found.passed:
        found.raise_if_any()  # unknown or null properties: the rest would be checked out of place
    if "registration" in context:
        with found:
            validate_uuid(context["registration"], path=f"{path}.registration")
    if "instructor" in context:
        with found:
            validate_actor(context["instructor"], path=f"{path}.instructor", version=version)
    if "team" in context:
        with found:
            validate_group(context["team"], path=f"{path}.team", version=version)
    if "contextActivities" in context:
        with found:
            _validate_context_activities(context["contextActivities"], path=f"{path}.contextActivities")
    for name in ("revision", "platform"):
        if name in context:
            with found:
                require_string(context[name], f"{path}.{name}")
                if not object_is_activity:
                    fail(
                        f"context.{name} may only be used when the statement's object is an Activity",
                        f"{path}.{name}",
                        "context-revision-platform",
                    )
    if "language" in context:
        with found:
            validate_language_tag(context["language"], path=f"{path}.language")
    if "statement" in context:
        with found:
            validate_statement_ref(context["statement"], path=f"{path}.statement")
    if "extensions" in context:
        with found:
            validate_extensions(context["extensions"], path=f"{path}.extensions")
    for name, kind in (("contextAgents", "agent"), ("contextGroups", "group")):
        if name in context:
            with found:
                _validate_context_members(context[name], f"{path}.{name}", kind=kind, version=version)
    found.raise_if_any()
    return context


def validate_context_for(context: object, statement_object: Any, *, path: str, version: str) -> None:
    """Validate ``context`` knowing the statement's object (absent objectType means Activity)."""
    is_activity = (
        type(statement_object) is dict and statement_object.get("objectType", "Activity") == "Activity"
    )
    validate_context(context, path=path, version=version, object_is_activity=is_activity)
