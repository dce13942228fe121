"""Activities and Activity Definitions.

xAPI 1.0.3 Data 2.4.4.1 (When the ObjectType is Activity):
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#2441-when-the-objecttype-is-activity
IEEE 9274.1.1 (xAPI 2.0) 4.2.2.3 (Object As Activity, Activity Definition tables).

* ``objectType`` "MUST be Activity when present"; ``id`` (IRI) is required;
  ``definition`` is optional. "If not specified, the objectType is assumed to be
  Activity" (2.0: "The LRS shall treat any Object without an objectType as
  though the value was Activity").
* Definition: ``name`` and ``description`` are Language Maps, ``type`` an IRI,
  ``moreInfo`` an IRL, ``extensions`` an extensions map, plus the interaction
  properties (see :mod:`lrs.xapi.interactions`).
* "IRI fragments (sometimes called relative IRLs) are not valid IRIs."
"""

from __future__ import annotations

from typing import Any

from lrs.xapi.extensions import validate_extensions
from lrs.xapi.identifier_lengths import check_identifier_length
from lrs.xapi.interactions import INTERACTION_PROPERTIES, validate_interaction
from lrs.xapi.iris import is_iri, is_irl
from lrs.xapi.json_types import check_properties, fail, require_object, require_string, short
from lrs.xapi.language_maps import validate_language_map
from lrs.xapi.valid_memo import remembers_valid

_ACTIVITY_PROPERTIES = frozenset({"objectType", "id", "definition"})
_ACTIVITY_REQUIRED = ("id",)
_DEFINITION_PROPERTIES = frozenset(
    {"name", "description", "type", "moreInfo", "extensions", *INTERACTION_PROPERTIES}
)


def validate_activity_definition(obj: object, *, path: str) -> dict[str, Any]:
    definition = obj if type(obj) is dict else require_object(obj, path)
    check_properties(definition, path, _DEFINITION_PROPERTIES, what="an Activity Definition")
    if "name" in definition:
        validate_language_map(definition["name"], path=f"{path}.name")
    if "description" in definition:
        validate_language_map(definition["description"], path=f"{path}.description")
    if "type" in definition and not is_iri(definition["type"]):
        _not_iri(definition["type"], f"{path}.type", "an Activity type must be an absolute IRI")
    if "moreInfo" in definition and not is_irl(definition["moreInfo"]):
        more_info = require_string(definition["moreInfo"], f"{path}.moreInfo")
        fail(
            f"moreInfo must be an IRL such as 'https://example.com/info', got {short(more_info)}",
            f"{path}.moreInfo",
            "irl",
        )
    if "extensions" in definition:
        validate_extensions(definition["extensions"], path=f"{path}.extensions")
    if not INTERACTION_PROPERTIES.isdisjoint(definition):
        validate_interaction(definition, path=path)
    return definition


def _not_iri(value: object, path: str, message: str) -> None:
    require_string(value, path)
    fail(f"{message}, got {short(value)}", path, "iri")


@remembers_valid()
def validate_activity(obj: object, *, path: str) -> dict[str, Any]:
    """An Activity (as a statement object or a context activity)."""
    activity = obj if type(obj) is dict else require_object(obj, path)
    check_properties(activity, path, _ACTIVITY_PROPERTIES, _ACTIVITY_REQUIRED, what="an Activity")
    if "objectType" in activity and activity["objectType"] != "Activity":
        fail(
            f"objectType of an Activity must be 'Activity', got {short(activity['objectType'])}",
            f"{path}.objectType",
            "objecttype",
        )
    if not is_iri(activity["id"]):
        _not_iri(activity["id"], f"{path}.id", "an Activity id must be an absolute IRI")
    check_identifier_length(activity["id"], f"{path}.id", "an Activity id")
    if "definition" in activity:
        validate_activity_definition(activity["definition"], path=f"{path}.definition")
    return activity
