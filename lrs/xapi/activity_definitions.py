"""The LRS's canonical Activity definitions, built from the statements it stores.

xAPI 1.0.3 Communication 2.5 (Activities Resource) returns "the complete
Activity Object"; the ADL conformance suite (XAPI-00254) requires that "The
Activity Object must contain all available information about an activity from
any statements who target the same activityId", e.g. an ``en-US`` name from one
statement and a ``fr-FR`` name from another. Data 2.4.4.1: "Upon receiving a
Statement with an Activity Definition that differs from the one stored, an LRS
SHOULD decide whether it considers the Learning Record Provider to have the
authority to change the definition and SHOULD update the stored Activity
Definition accordingly if that decision is positive." Communication 4.2, scope
``define``: "(re)Define Activities and Actors. If storing a Statement when this
is not granted, ids will be saved and the LRS MAY save the original Statement
for audit purposes, but SHOULD NOT update its canonical representation of any
Actors or Activities."

The merge (``merge_definitions``), applied in statement order:

* ``name`` and ``description`` are language maps: merged key by key, newer
  entries replacing older ones for the same language tag;
* the interaction component lists (``choices``, ``scale``, ``source``,
  ``target``, ``steps``) are taken from the newer definition, except that a
  component whose ``id`` was already known keeps the languages of its older
  ``description`` that the newer one lacks;
* every other property (``type``, ``moreInfo``, ``extensions``,
  ``interactionType``, ``correctResponsesPattern``) is replaced by the newer
  value; when ``interactionType`` changes, the older interaction properties are
  dropped first so that the result stays a consistent interaction;
* properties the newer definition omits are kept.
"""

from __future__ import annotations

from typing import Any

LANGUAGE_MAP_PROPERTIES = ("name", "description")
COMPONENT_LIST_PROPERTIES = ("choices", "scale", "source", "target", "steps")
INTERACTION_PROPERTIES = ("interactionType", "correctResponsesPattern", *COMPONENT_LIST_PROPERTIES)


def _merge_language_maps(old: Any, new: Any) -> Any:
    if isinstance(old, dict) and isinstance(new, dict):
        return {**old, **new}
    return new


def _merge_components(old: Any, new: Any) -> Any:
    if not isinstance(old, list) or not isinstance(new, list):
        return new
    known = {item.get("id"): item for item in old if isinstance(item, dict)}
    merged = []
    for item in new:
        previous = known.get(item.get("id")) if isinstance(item, dict) else None
        if previous is not None and "description" in previous:
            item = {
                **item,
                "description": _merge_language_maps(previous["description"], item.get("description", {})),
            }
        merged.append(item)
    return merged


def merge_definitions(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The canonical definition after a statement carrying ``new`` (see the module docstring)."""
    result = dict(old)
    if "interactionType" in new and new["interactionType"] != old.get("interactionType"):
        for key in INTERACTION_PROPERTIES:
            result.pop(key, None)
    for key, value in new.items():
        if key in LANGUAGE_MAP_PROPERTIES:
            result[key] = _merge_language_maps(result.get(key), value)
        elif key in COMPONENT_LIST_PROPERTIES:
            result[key] = _merge_components(result.get(key), value)
        else:
            result[key] = value
    return result


def _gather_activities(statement: dict[str, Any], found: list, base: str | None) -> None:
    """Append every Activity object of a statement to ``found``: its object, its context
    activities, and a SubStatement's. ``base`` None: the activities alone (the ingest path, where
    writing paths cost more than the walk); otherwise ``(path, activity)`` pairs, each path
    relative to the statement and prefixed by ``base``."""
    obj = statement.get("object")
    if isinstance(obj, dict):
        object_type = obj.get("objectType") or "Activity"
        if object_type == "Activity":
            found.append(obj if base is None else (f"{base}object", obj))
        elif object_type == "SubStatement":
            _gather_activities(obj, found, None if base is None else f"{base}object.")
    context = statement.get("context")
    if not isinstance(context, dict):
        return
    for kind, value in (context.get("contextActivities") or {}).items():
        prefix = None if base is None else f"{base}context.contextActivities.{kind}"
        if isinstance(value, list):
            for index, activity in enumerate(value):
                if isinstance(activity, dict):
                    found.append(activity if prefix is None else (f"{prefix}[{index}]", activity))
        elif isinstance(value, dict):
            found.append(value if prefix is None else (prefix, value))


def activities_with_paths(statement: dict[str, Any], base: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every Activity object in a statement with its property path (relative to the statement):
    its object, its context activities, and a SubStatement's."""
    found: list[tuple[str, dict[str, Any]]] = []
    _gather_activities(statement, found, base)
    return found


def statement_activities(statement: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Activity object in a statement, as ``activities_with_paths`` finds them, without the
    paths."""
    found: list[dict[str, Any]] = []
    _gather_activities(statement, found, None)
    return found


def collect_definitions(statements: list[dict[str, Any]]) -> dict[str, dict[str, Any] | None]:
    """Activity id -> the batch's merged definition (None when no statement defined it), in batch order."""
    found: dict[str, dict[str, Any] | None] = {}
    for statement in statements:
        for activity in statement_activities(statement):
            activity_id = activity.get("id")
            if not isinstance(activity_id, str):
                continue
            definition = activity.get("definition")
            current = found.get(activity_id)
            if isinstance(definition, dict) and definition:
                # Merging an equal valid definition (component ids distinct), or one into none,
                # gives that definition: a batch repeats its activities' definitions, and the
                # merge is the slower way to the same value (statements are not modified once read).
                if current is None:
                    found[activity_id] = definition
                elif current != definition:
                    found[activity_id] = merge_definitions(current, definition)
            else:
                found.setdefault(activity_id, None)
    return found


def activity_object(activity_id: str, definition: dict[str, Any] | None) -> dict[str, Any]:
    """The Activity object the Activities Resource returns."""
    activity: dict[str, Any] = {"objectType": "Activity", "id": activity_id}
    if definition:
        activity["definition"] = definition
    return activity
