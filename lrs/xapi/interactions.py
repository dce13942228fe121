"""Interaction Activities (``interactionType``, component lists, ``correctResponsesPattern``).

xAPI 1.0.3 Data 2.4.4.1 "Interaction Activities", "Interaction Components":
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#interaction-activities
IEEE 9274.1.1 (xAPI 2.0) 4.2.2.3 (Interaction Activities, Interaction Components tables).

* "Interaction Activities MUST have a valid interactionType" - one of
  ``true-false``, ``choice``, ``fill-in``, ``long-fill-in``, ``matching``,
  ``performance``, ``sequencing``, ``likert``, ``numeric``, ``other`` (case as
  written). A definition using any interaction property without an
  interactionType is rejected.
* "An LRS, upon consuming a valid interactionType, MAY validate the remaining
  properties ... and MAY return 400 Bad Request if the remaining properties are
  not valid": component lists are only accepted for the interaction types the
  spec lists them for (choice/sequencing: ``choices``; likert: ``scale``;
  matching: ``source``, ``target``; performance: ``steps``; the others: none),
  and "Within an array of interaction components, all id values MUST be
  distinct" (rule ``interaction-components``).
* ``correctResponsesPattern`` is an array of strings. The patterns themselves are
  not parsed ("Characterstring parameters are not validated by the LRS"; "The LRS
  SHOULD* NOT enforce character limits relating to response patterns").
"""

from __future__ import annotations

from typing import Any

from lrs.xapi.json_types import check_properties, fail, require_array, require_object, require_string, short
from lrs.xapi.language_maps import validate_language_map

INTERACTION_TYPES = frozenset(
    {
        "true-false",
        "choice",
        "fill-in",
        "long-fill-in",
        "matching",
        "performance",
        "sequencing",
        "likert",
        "numeric",
        "other",
    }
)
_TYPE_LIST = ", ".join(sorted(INTERACTION_TYPES))
COMPONENT_LISTS = ("choices", "scale", "source", "target", "steps")
ALLOWED_LISTS: dict[str, frozenset[str]] = {
    "choice": frozenset({"choices"}),
    "sequencing": frozenset({"choices"}),
    "likert": frozenset({"scale"}),
    "matching": frozenset({"source", "target"}),
    "performance": frozenset({"steps"}),
}
INTERACTION_PROPERTIES = frozenset({"interactionType", "correctResponsesPattern", *COMPONENT_LISTS})
_COMPONENT_PROPERTIES = frozenset({"id", "description"})
_COMPONENT_REQUIRED = ("id",)
_NONE: frozenset[str] = frozenset()


def _validate_components(value: object, path: str) -> None:
    components = require_array(value, path)
    seen: set[str] = set()
    for index, item in enumerate(components):
        item_path = f"{path}[{index}]"
        component = require_object(item, item_path)
        check_properties(
            component, item_path, _COMPONENT_PROPERTIES, _COMPONENT_REQUIRED, what="an interaction component"
        )
        component_id = require_string(component["id"], f"{item_path}.id")
        if component_id in seen:
            fail(
                f"interaction component ids must be distinct within a list; {short(component_id)} repeats",
                f"{item_path}.id",
                "interaction-components",
            )
        seen.add(component_id)
        if "description" in component:
            validate_language_map(component["description"], path=f"{item_path}.description")


def validate_interaction(definition: dict[str, Any], *, path: str) -> None:
    """Validate the interaction properties of an Activity Definition (call only if it has any)."""
    if "interactionType" not in definition:
        used = next(name for name in (*COMPONENT_LISTS, "correctResponsesPattern") if name in definition)
        fail(
            f"using {used!r} makes the definition an Interaction Activity, which requires 'interactionType'",
            f"{path}.interactionType",
            "required",
        )
    interaction_type = require_string(definition["interactionType"], f"{path}.interactionType")
    if interaction_type not in INTERACTION_TYPES:
        fail(
            f"interactionType must be one of {_TYPE_LIST}, got {short(interaction_type)}",
            f"{path}.interactionType",
            "interaction-type",
        )
    if "correctResponsesPattern" in definition:
        patterns_path = f"{path}.correctResponsesPattern"
        patterns = require_array(definition["correctResponsesPattern"], patterns_path)
        for index, pattern in enumerate(patterns):
            require_string(pattern, f"{patterns_path}[{index}]")
    allowed = ALLOWED_LISTS.get(interaction_type, _NONE)
    for name in COMPONENT_LISTS:
        if name not in definition:
            continue
        if name not in allowed:
            supported = ", ".join(sorted(allowed)) if allowed else "no component lists"
            fail(
                f"interactionType {interaction_type!r} supports {supported}, not {name!r}",
                f"{path}.{name}",
                "interaction-components",
            )
        _validate_components(definition[name], f"{path}.{name}")
