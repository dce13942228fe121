"""Statement comparison: is a statement re-sent with a known id the same statement?

xAPI 1.0.3 Data 2.3.1 (Statement Immutability, Statement Comparison Requirements):
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#231-statement-immutability
"Differences which could have been caused by exceptions to Statement
immutability MUST be ignored"; "Differences relating to a different
serialization of any properties not listed as exceptions MUST not be ignored."
The exceptions: "assignments of properties during LRS processing ("id",
"authority", "stored", "timestamp", "version")", Activity Definitions, the Verb's
"display", timestamp serialization, the order of Group members, attachments,
and "Case sensitivity. Some properties are case insensitive ... For example, the
domain portion an e-mail address". Result duration is compared as a string, but
"any precision beyond 0.01 second precision SHOULD* NOT be included" (Data 4.6).

IEEE 9274.1.1 (xAPI 2.0) 4.2 states the same list explicitly: compare Actor
("except the ordering of group members"), Verb ("except for display"), Object,
Duration; do not consider "Case (upper vs. lower), Id, Order of any Group
Members, Authority, Stored, Timestamp, Version, Any attachments, Any referenced
Activity Definitions". The 2.0 list is used for both versions: in 1.0.3 every
item is an exception too (``timestamp`` being among the properties the LRS may
assign), so the behaviour does not depend on the version.

Decisions:

* "Case" is applied to the values whose syntax is case-insensitive: UUIDs, hex
  digests (mbox_sha1sum), the domain of an mbox and language tags
  (``context.language``). Free text (names, responses, account names, extension
  values) and IRIs stay case-sensitive (Data 2.2: "The LRS SHOULD treat all
  values as case sensitive unless specified otherwise"; IRIs are compared by
  simple string comparison, RFC 3987 5.3.1).
* Serialisation differences the LRS itself makes or the spec defines as
  equivalent are ignored: a single context Activity vs a one-element array, a
  missing ``objectType`` vs the default (``Activity`` for objects, ``Agent`` for
  actors), and the numbers ``1`` vs ``1.0``. Booleans are never equal to numbers.
* Extensions are compared exactly (values included), in every location.
"""

from __future__ import annotations

import json
from typing import Any

from lrs.xapi.durations import duration_for_comparison

_IGNORED = frozenset({"id", "authority", "stored", "timestamp", "version", "attachments"})
_IFIS = ("mbox", "mbox_sha1sum", "openid", "account")


class _Bool:
    """A boolean that is not equal to 0 or 1 (Python's True == 1)."""

    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Bool) and other.value is self.value

    def __hash__(self) -> int:
        return hash(("bool", self.value))

    def __repr__(self) -> str:
        return f"_Bool({self.value})"


def _plain(value: Any) -> Any:
    """A JSON value with booleans made distinct from numbers."""
    kind = type(value)
    if kind is bool:
        return _Bool(value)
    if kind is dict:
        return {key: _plain(item) for key, item in value.items()}
    if kind is list:
        return [_plain(item) for item in value]
    return value


def _sort_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def _lower(value: Any) -> Any:
    return value.lower() if type(value) is str else value


def _agent_key(agent: Any) -> Any:
    if type(agent) is not dict:
        return _plain(agent)
    key = {name: _plain(value) for name, value in agent.items() if name not in ("member", *_IFIS)}
    key.setdefault("objectType", "Agent")
    mbox = agent.get("mbox")
    if type(mbox) is str:
        local, at, domain = mbox.rpartition("@")
        key["mbox"] = f"{local}@{domain.lower()}" if at else mbox
    if "mbox_sha1sum" in agent:
        key["mbox_sha1sum"] = _lower(agent["mbox_sha1sum"])
    for name in ("openid", "account"):
        if name in agent:
            key[name] = _plain(agent[name])
    if "member" in agent:
        members = agent["member"]
        if type(members) is list:
            member_keys = [_agent_key(member) for member in members]
            key["member"] = sorted(member_keys, key=_sort_key)  # members are an unordered list
        else:
            key["member"] = _plain(members)
    return key


def _activity_key(activity: Any) -> Any:
    if type(activity) is not dict:
        return _plain(activity)
    # The Activity Definition is not part of the statement (Data 2.3.1).
    return {"objectType": activity.get("objectType", "Activity"), "id": activity.get("id")}


def _object_key(statement_object: Any) -> Any:
    if type(statement_object) is not dict:
        return _plain(statement_object)
    object_type = statement_object.get("objectType", "Activity")
    if object_type == "Activity":
        return _activity_key(statement_object)
    if object_type in ("Agent", "Group"):
        return _agent_key(statement_object)
    if object_type == "StatementRef":
        return {"objectType": "StatementRef", "id": _lower(statement_object.get("id"))}
    if object_type == "SubStatement":
        return _statement_key(statement_object)
    return _plain(statement_object)


def _context_key(context: Any) -> Any:
    if type(context) is not dict:
        return _plain(context)
    key = {name: _plain(value) for name, value in context.items()}
    if "registration" in context:
        key["registration"] = _lower(context["registration"])
    if "language" in context:
        key["language"] = _lower(context["language"])
    for name in ("instructor", "team"):
        if name in context:
            key[name] = _agent_key(context[name])
    statement_ref = context.get("statement")
    if type(statement_ref) is dict:
        key["statement"] = {**_plain(statement_ref), "id": _lower(statement_ref.get("id"))}
    context_activities = context.get("contextActivities")
    if type(context_activities) is dict:
        key["contextActivities"] = {
            kind: [_activity_key(item) for item in (value if type(value) is list else [value])]
            for kind, value in context_activities.items()
        }
    for name, member in (("contextAgents", "agent"), ("contextGroups", "group")):
        entries = context.get(name)
        if type(entries) is list:
            key[name] = [
                {**_plain(entry), member: _agent_key(entry.get(member))}
                if type(entry) is dict
                else _plain(entry)
                for entry in entries
            ]
    return key


def _result_key(result: Any) -> Any:
    key = _plain(result)
    if type(result) is dict and type(result.get("duration")) is str:
        key["duration"] = duration_for_comparison(result["duration"])
    return key


def _statement_key(statement: dict[str, Any]) -> dict[str, Any]:
    key: dict[str, Any] = {}
    for name, value in statement.items():
        if name in _IGNORED:
            continue
        if name == "actor":
            key[name] = _agent_key(value)
        elif name == "verb":
            key[name] = {"id": value.get("id")} if type(value) is dict else _plain(value)
        elif name == "object":
            key[name] = _object_key(value)
        elif name == "context":
            key[name] = _context_key(value)
        elif name == "result":
            key[name] = _result_key(value)
        else:
            key[name] = _plain(value)
    return key


def statements_equivalent(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """True when two statements differ only in ways the Statement Comparison Requirements ignore."""
    return _statement_key(a) == _statement_key(b)
