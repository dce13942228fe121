"""Agents, Groups, Inverse Functional Identifiers and the ``agent`` parameter.

xAPI 1.0.3 Data 2.4.2 (Actor): 2.4.2.1 Agent, 2.4.2.2 Group, 2.4.2.3 Inverse
Functional Identifier, 2.4.2.4 Account Object; 2.4.9 Authority.
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#242-actor
IEEE 9274.1.1 (xAPI 2.0) 4.2.2.1 (Actor tables) has the same rules.

* An Agent "MUST be identified by one (1) of the four types of Inverse Functional
  Identifiers" and "MUST NOT include more than one" (rule ``one-ifi``).
* An Anonymous Group "MUST include a member property listing constituent
  Agents"; an Identified Group "MUST include exactly one (1) Inverse Functional
  Identifier"; neither may contain Group objects in ``member`` (``group-member``).
* ``mbox`` is a ``mailto:`` IRI, "The required format is "mailto:email
  address"" (rule ``mbox-format``; the scheme must be written ``mailto:`` and no
  ``?hfields`` are allowed), ``mbox_sha1sum`` the hex SHA-1 of one (``sha1``),
  ``openid`` a URI, ``account`` has an IRL ``homePage`` and a string ``name``.
* Authority "MUST be an Agent, except in 3-legged OAuth, where it MUST be a
  Group with two Agents" (rule ``authority``; the ADL conformance suite also
  rejects an identified Group as authority).
"""

from __future__ import annotations

import json
import re
from typing import Any

from lrs.xapi.identifier_lengths import check_identifier_length
from lrs.xapi.iris import is_iri, is_irl
from lrs.xapi.json_types import (
    check_properties,
    fail,
    parse_json,
    require_array,
    require_object,
    short,
    wrong_type,
)
from lrs.xapi.valid_memo import remembers_valid

IFI_PROPERTIES = ("mbox", "mbox_sha1sum", "openid", "account")
_AGENT_PROPERTIES = frozenset({"objectType", "name", *IFI_PROPERTIES})
_GROUP_PROPERTIES = frozenset({"objectType", "name", "member", *IFI_PROPERTIES})
_ACCOUNT_PROPERTIES = frozenset({"homePage", "name"})
_ACCOUNT_REQUIRED = ("homePage", "name")
_NOT_IN_MBOX = r"\s@?#/<>\"{}|\\^`\x00-\x1f\x7f-\x9f"
# mailto:local@domain, without characters an IRI never contains
_MBOX = re.compile(rf"mailto:[^{_NOT_IN_MBOX}:]+@[^{_NOT_IN_MBOX}]+\Z")
_SHA1 = re.compile(r"[0-9A-Fa-f]{40}\Z")
_IFI_SET = frozenset(IFI_PROPERTIES)


def _ifis(obj: dict[str, Any]) -> list[str]:
    found = _IFI_SET.intersection(obj)
    if len(found) <= 1:
        return list(found)
    return [name for name in IFI_PROPERTIES if name in found]


def _validate_ifi(name: str, value: object, parent: str) -> None:
    """Validate the IFI ``name`` of the agent at ``parent`` (paths are built only on failure)."""
    if name == "account":
        path = f"{parent}.account"
        account = require_object(value, path)
        check_properties(account, path, _ACCOUNT_PROPERTIES, _ACCOUNT_REQUIRED, what="an account")
        home_page = account["homePage"]
        if not is_irl(home_page):
            if type(home_page) is not str:
                wrong_type("a string", home_page, f"{path}.homePage")
            fail(
                f"homePage must be an IRL such as 'https://lms.example.com', got {short(home_page)}",
                f"{path}.homePage",
                "irl",
            )
        if type(account["name"]) is not str:
            wrong_type("a string", account["name"], f"{path}.name")
        if "\x00" in account["name"]:
            # The account name is part of the agent's identifier, which the LRS stores and indexes
            # as text; PostgreSQL text cannot hold U+0000 (the IRI forms of the other IFIs already
            # exclude control characters).
            fail("an account name must not contain U+0000", f"{path}.name", "no-nul")
        check_identifier_length(home_page + account["name"], path, "an account's homePage and name together")
        return
    if type(value) is not str:
        wrong_type("a string", value, f"{parent}.{name}")
    if name == "mbox":
        if not _MBOX.match(value):
            fail(
                f"mbox must be a mailto IRI such as 'mailto:learner@example.com', got {short(value)}",
                f"{parent}.mbox",
                "mbox-format",
            )
    elif name == "mbox_sha1sum":
        if not _SHA1.match(value):
            fail(
                f"mbox_sha1sum must be 40 hexadecimal digits (a SHA-1), got {short(value)}",
                f"{parent}.mbox_sha1sum",
                "sha1",
            )
    elif not is_iri(value):
        fail(f"openid must be an absolute URI, got {short(value)}", f"{parent}.openid", "iri")
    check_identifier_length(value, f"{parent}.{name}", f"an {name}")


def _check_one_ifi(ifis: list[str], path: str, what: str) -> None:
    if len(ifis) != 1:
        found = ", ".join(ifis) if ifis else "none"
        fail(
            f"{what} must have exactly one inverse functional identifier "
            f"(mbox, mbox_sha1sum, openid or account); found {found}",
            path,
            "one-ifi",
        )


def validate_agent(obj: object, *, path: str, version: str = "1.0.3") -> dict[str, Any]:
    """Validate an Agent (``objectType`` absent or ``"Agent"``)."""
    agent = obj if type(obj) is dict else require_object(obj, path)
    if "member" in agent:
        fail("'member' is only allowed on a Group (objectType 'Group')", f"{path}.member", "unknown-property")
    check_properties(agent, path, _AGENT_PROPERTIES, what="an Agent")
    object_type = agent.get("objectType", "Agent")
    if object_type != "Agent":
        fail(
            f"objectType of an Agent must be 'Agent', got {short(object_type)}",
            f"{path}.objectType",
            "objecttype",
        )
    if "name" in agent and type(agent["name"]) is not str:
        wrong_type("a string", agent["name"], f"{path}.name")
    ifis = _ifis(agent)
    _check_one_ifi(ifis, path, "an Agent")
    _validate_ifi(ifis[0], agent[ifis[0]], path)
    return agent


def validate_group(obj: object, *, path: str, version: str = "1.0.3") -> dict[str, Any]:
    """Validate an Anonymous or Identified Group (``objectType`` must be ``"Group"``)."""
    group = obj if type(obj) is dict else require_object(obj, path)
    check_properties(group, path, _GROUP_PROPERTIES, ("objectType",), what="a Group")
    if group["objectType"] != "Group":
        fail(
            f"objectType of a Group must be 'Group', got {short(group['objectType'])}",
            f"{path}.objectType",
            "objecttype",
        )
    if "name" in group and type(group["name"]) is not str:
        wrong_type("a string", group["name"], f"{path}.name")
    ifis = _ifis(group)
    if len(ifis) > 1:
        _check_one_ifi(ifis, path, "an identified Group")
    if ifis:
        _validate_ifi(ifis[0], group[ifis[0]], path)
    elif "member" not in group:
        fail(
            "an anonymous Group (no inverse functional identifier) requires 'member'",
            f"{path}.member",
            "required",
        )
    if "member" in group:
        members_path = f"{path}.member"
        members = require_array(group["member"], members_path)
        if not members and not ifis:
            fail("an anonymous Group must list at least one member", members_path, "min-items")
        for index, member in enumerate(members):
            member_path = f"{members_path}[{index}]"
            if type(member) is dict and member.get("objectType") == "Group":
                fail(
                    "a Group's members must be Agents, not Groups",
                    f"{member_path}.objectType",
                    "group-member",
                )
            validate_agent(member, path=member_path, version=version)
    return group


@remembers_valid("version")
def validate_actor(obj: object, *, path: str, version: str = "1.0.3") -> dict[str, Any]:
    """An Agent or a Group, told apart by ``objectType`` (absent means Agent)."""
    if type(obj) is dict:
        object_type = obj.get("objectType", "Agent")
        if object_type == "Group":
            return validate_group(obj, path=path, version=version)
        if object_type is not None and object_type != "Agent":
            fail(
                f"objectType must be 'Agent' or 'Group', got {short(object_type)}",
                f"{path}.objectType",
                "objecttype",
            )
    return validate_agent(obj, path=path, version=version)


def validate_authority(obj: object, *, path: str, version: str = "1.0.3") -> dict[str, Any]:
    """An Agent, or an anonymous Group of exactly two Agents (3-legged OAuth: application and user)."""
    authority = validate_actor(obj, path=path, version=version)
    if authority.get("objectType") == "Group" and (_ifis(authority) or len(authority.get("member", ())) != 2):
        fail(
            "an authority Group must be an anonymous Group of exactly two Agents "
            "(the OAuth consumer and the user)",
            path,
            "authority",
        )
    return authority


def agent_ifi(agent: dict[str, Any]) -> str | None:
    """The canonical Inverse Functional Identifier string of a validated Agent or Group.

    Used as the database key of an agent: ``mbox::mailto:x@example.com``,
    ``mbox_sha1sum::<40 lower-case hex>``, ``openid::<uri>``,
    ``account::<homePage>::<name>``; None for an anonymous Group.

    Data 2.4.2.3 ("The domain portions of email addresses are case insensitive")
    and 2.3.1 (case of case-insensitive values does not affect immutability):
    the domain of an mbox is lower-cased, the local part is kept as given (it is
    case-sensitive in RFC 5321). The SHA-1 hex digits are lower-cased. openid and
    account values are kept exactly: IFIs are otherwise compared exactly
    (Communication 2.1.3, ``agent`` parameter: "equal when the same Inverse
    Functional Identifier is used ... and those Inverse Functional Identifiers
    have equal values").
    """
    mbox = agent.get("mbox")
    if mbox is not None:
        local, _, domain = mbox.rpartition("@")
        return f"mbox::{local}@{domain.lower()}" if local else f"mbox::{mbox}"
    sha1 = agent.get("mbox_sha1sum")
    if sha1 is not None:
        return f"mbox_sha1sum::{sha1.lower()}"
    openid = agent.get("openid")
    if openid is not None:
        return f"openid::{openid}"
    account = agent.get("account")
    if account is not None:
        return f"account::{account.get('homePage')}::{account.get('name')}"
    return None


def parse_agent_param(raw: str, *, path: str = "agent") -> dict[str, Any]:
    """Parse the ``agent`` query parameter: the JSON of an Agent or an Identified Group.

    Communication 2.1.3 (GET Statements): "agent: Agent or Identified Group
    Object (JSON)"; Data 2.2: parameter values are validated "to the same
    standards required for values of the same types in Statements". Malformed
    JSON (rule ``json``), a non-object, an anonymous Group or an object without
    exactly one IFI (``one-ifi``) is a 400.
    """
    value = parse_json(raw, path=path)
    if type(value) is not dict:
        fail(f"must be the JSON of an Agent or identified Group, got {json.dumps(value)[:80]}", path, "type")
    if value.get("objectType") == "Group":
        ifis = _ifis(value)
        if len(ifis) != 1:
            _check_one_ifi(ifis, path, "an identified Group (anonymous Groups cannot be used here)")
        return validate_group(value, path=path)
    return validate_agent(value, path=path)
