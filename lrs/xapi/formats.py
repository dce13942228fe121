"""The ``format`` parameter of GET /statements (``ids``, ``exact``, ``canonical``) and Accept-Language.

xAPI 1.0.3 Communication 2.1.3 (GET Statements, ``format``; Language Filtering
Requirements for Canonical Format Statements):
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#213-get-statements
IEEE 9274.1.1 (xAPI 2.0) 4.1.6.1 has the same text.

* ``ids``: "only include minimum information necessary in Agent, Activity, Verb
  and Group Objects to identify them. For Anonymous Groups this means including
  the minimum information needed to identify each member." So an Agent or
  identified Group becomes ``objectType`` + its IFI, an anonymous Group keeps
  ``objectType`` + ``member`` (each member reduced), an Activity just its ``id``
  (the ADL conformance suite, XAPI-00171, expects exactly one key; a missing
  objectType means Activity) and a Verb its ``id`` (Data 2.4.3: "the LRS SHOULD*
  NOT include the display property"). This applies to actor, object, authority,
  context instructor/team, contextActivities, contextAgents/contextGroups and
  inside SubStatements.
* ``canonical``: Activity and Verb language maps are returned with "only one
  language in each of these maps", chosen by "the Accept-Language header as
  described in RFC 2616 ... applied to each language map individually". Here the
  LRS's canonical maps are the ones in the statement; the lookup of canonical
  Activity Definitions is the caller's business. Agents and Groups are
  returned "as in exact mode". Attachment ``display``/``description`` maps are
  reduced the same way ("The LRS may maintain a canonical version of any
  language map"); extension values are never touched.
* A 1.0.x client gets a 2.0 statement without ``contextAgents`` and ``contextGroups``, the
  properties its version does not have (``statement_without_v2_properties``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lrs.xapi.agents import IFI_PROPERTIES
from lrs.xapi.interactions import COMPONENT_LISTS

Json = dict[str, Any]
_AGENT_TYPES = ("Agent", "Group")


def _agent_ids(agent: Any) -> Any:
    if type(agent) is not dict:
        return agent
    is_group = agent.get("objectType") == "Group"
    reduced: Json = {"objectType": "Group" if is_group else "Agent"}
    for name in IFI_PROPERTIES:
        if name in agent:
            reduced[name] = agent[name]
            return reduced
    if is_group:
        reduced["member"] = [_agent_ids(member) for member in agent.get("member") or ()]
    return reduced


def _activity_ids(activity: Any) -> Any:
    if type(activity) is not dict:
        return activity
    # Communication 2.1.3 ``format=ids``: the minimum that identifies an Activity is its id
    # (the ADL conformance suite, XAPI-00171, expects exactly one key).
    return {"id": activity.get("id")}


def _map_context_activities(context_activities: Any, convert: Callable[[Any], Any]) -> Any:
    if type(context_activities) is not dict:
        return context_activities
    return {
        kind: [convert(item) for item in value] if type(value) is list else convert(value)
        for kind, value in context_activities.items()
    }


def _context_ids(context: Json) -> Json:
    reduced = dict(context)
    for name in ("instructor", "team"):
        if name in reduced:
            reduced[name] = _agent_ids(reduced[name])
    if "contextActivities" in reduced:
        reduced["contextActivities"] = _map_context_activities(reduced["contextActivities"], _activity_ids)
    for name, key in (("contextAgents", "agent"), ("contextGroups", "group")):
        entries = reduced.get(name)
        if type(entries) is list:
            reduced[name] = [
                {**entry, key: _agent_ids(entry.get(key))} if type(entry) is dict else entry
                for entry in entries
            ]
    return reduced


def statement_ids_format(statement: Json) -> Json:
    """A copy of a stored statement in the ``ids`` format (the input is not modified)."""
    reduced = dict(statement)
    if "actor" in reduced:
        reduced["actor"] = _agent_ids(reduced["actor"])
    verb = reduced.get("verb")
    if type(verb) is dict:
        reduced["verb"] = {"id": verb.get("id")}
    statement_object = reduced.get("object")
    if type(statement_object) is dict:
        object_type = statement_object.get("objectType", "Activity")
        if object_type == "Activity":
            reduced["object"] = _activity_ids(statement_object)
        elif object_type in _AGENT_TYPES:
            reduced["object"] = _agent_ids(statement_object)
        elif object_type == "SubStatement":
            reduced["object"] = statement_ids_format(statement_object)
    if type(reduced.get("context")) is dict:
        reduced["context"] = _context_ids(reduced["context"])
    if "authority" in reduced:
        reduced["authority"] = _agent_ids(reduced["authority"])
    return reduced


# -- Accept-Language and the canonical format --------------------------------------------------------


def parse_accept_language(header: str) -> list[str]:
    """The language ranges of an Accept-Language header, most preferred first (RFC 2616 14.4).

    ``"da, en-gb;q=0.8, en;q=0.7"`` gives ``["da", "en-gb", "en"]``. Ranges with
    ``q=0`` ("not acceptable") are dropped; unparseable q-values count as 1;
    equal q-values keep header order. ``*`` is kept as a range.
    """
    weighted: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        parts = item.split(";")
        language = parts[0].strip()
        if not language:
            continue
        quality = 1.0
        for parameter in parts[1:]:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 1.0
        if quality > 0:
            weighted.append((-quality, position, language))
    weighted.sort()
    return [language for _, _, language in weighted]


_FALLBACK = ("en-us", "en")


def best_language(keys: list[str], languages: list[str]) -> str | None:
    """The key of a language map to return for the preferred ``languages``.

    RFC 2616 14.4 matching per range in preference order (a range matches a tag
    equal to it or starting with it followed by ``-``, case-insensitively); then
    each range truncated subtag by subtag (``en-GB`` finds ``en``, RFC 4647
    lookup); then ``en-US``, ``en``, any ``en-*``; then the first key.
    """
    if not keys:
        return None
    lowered = [key.lower() for key in keys]
    ranges = [language.lower() for language in languages if language != "*"]
    for wanted in ranges:
        for key, low in zip(keys, lowered, strict=True):
            if low == wanted or low.startswith(wanted + "-"):
                return key
    for wanted in ranges:
        while "-" in wanted:
            wanted = wanted.rsplit("-", 1)[0]
            for key, low in zip(keys, lowered, strict=True):
                if low == wanted:
                    return key
    for wanted in _FALLBACK:
        for key, low in zip(keys, lowered, strict=True):
            if low == wanted:
                return key
    for key, low in zip(keys, lowered, strict=True):
        if low.startswith("en-"):
            return key
    return keys[0]


def _one_language(language_map: Any, languages: list[str]) -> Any:
    if type(language_map) is not dict or len(language_map) <= 1:
        return language_map
    key = best_language(list(language_map), languages)
    return {key: language_map[key]}


def _definition_canonical(definition: Any, languages: list[str]) -> Any:
    if type(definition) is not dict:
        return definition
    result = dict(definition)
    for name in ("name", "description"):
        if name in result:
            result[name] = _one_language(result[name], languages)
    for name in COMPONENT_LISTS:
        components = result.get(name)
        if type(components) is list:
            result[name] = [
                {**item, "description": _one_language(item["description"], languages)}
                if type(item) is dict and "description" in item
                else item
                for item in components
            ]
    return result


def _activity_canonical(activity: Any, languages: list[str]) -> Any:
    if type(activity) is not dict or "definition" not in activity:
        return activity
    return {**activity, "definition": _definition_canonical(activity["definition"], languages)}


def statement_canonical_format(statement: Json, languages: list[str]) -> Json:
    """A copy of a statement with every Verb/Activity/Attachment language map reduced to one entry."""
    result = dict(statement)
    verb = result.get("verb")
    if type(verb) is dict and "display" in verb:
        result["verb"] = {**verb, "display": _one_language(verb["display"], languages)}
    statement_object = result.get("object")
    if type(statement_object) is dict:
        object_type = statement_object.get("objectType", "Activity")
        if object_type == "Activity":
            result["object"] = _activity_canonical(statement_object, languages)
        elif object_type == "SubStatement":
            result["object"] = statement_canonical_format(statement_object, languages)
    context = result.get("context")
    if type(context) is dict and "contextActivities" in context:
        result["context"] = {
            **context,
            "contextActivities": _map_context_activities(
                context["contextActivities"], lambda activity: _activity_canonical(activity, languages)
            ),
        }
    attachments = result.get("attachments")
    if type(attachments) is list:
        result["attachments"] = [_attachment_canonical(item, languages) for item in attachments]
    return result


def _attachment_canonical(attachment: Any, languages: list[str]) -> Any:
    if type(attachment) is not dict:
        return attachment
    reduced = dict(attachment)
    for name in ("display", "description"):
        if name in reduced:
            reduced[name] = _one_language(reduced[name], languages)
    return reduced


def statement_without_v2_properties(statement: dict) -> dict:
    """A 2.0 statement as a 1.0.3 client can read it: ``contextAgents`` and ``contextGroups``
    (xAPI 2.0 only) are left out; everything else is unchanged."""
    context = statement.get("context")
    if isinstance(context, dict) and ("contextAgents" in context or "contextGroups" in context):
        statement = {
            **statement,
            "context": {k: v for k, v in context.items() if k not in ("contextAgents", "contextGroups")},
        }
    obj = statement.get("object")
    if isinstance(obj, dict) and obj.get("objectType") == "SubStatement":
        statement = {**statement, "object": statement_without_v2_properties(obj)}
    return statement
