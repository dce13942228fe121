"""Pseudonyms for identifiers that leave the LRS: a keyed hash (HMAC-SHA256), stable for one key
and identifier, meaningless without the key. Each target has its own key, so two targets cannot
join their records on the pseudonym (GDPR Art. 4(5), pseudonymisation; EDPB guidance keeps the
key apart from the data). Pure: the caller brings the key."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from lrs.xapi.agents import IFI_PROPERTIES, agent_ifi

PREFIX = "p-"


# A worker names the same learners over and over (one HMAC and a base32 encoding each, a few
# percent of a drained batch's CPU): the latest few thousand are remembered, per key.
@functools.lru_cache(maxsize=8192)
def pseudonym(key: bytes, identifier: str) -> str:
    """``p-`` and 26 base32 characters (130 bits) of HMAC-SHA256(key, identifier)."""
    digest = hmac.new(key, identifier.encode(), hashlib.sha256).digest()
    # The first 26 characters encode the first 130 bits: 20 bytes (32 characters) are enough.
    return PREFIX + base64.b32encode(digest[:20]).decode().lower()[:26]


@functools.lru_cache(maxsize=64)
def derived_key(secret: str, target_name: str) -> bytes:
    """A per-target key derived from a deployment secret, for targets configured without one."""
    return hmac.new(secret.encode(), f"lrs-pseudonym:{target_name}".encode(), hashlib.sha256).digest()


def pseudonymise_agents(statement: dict[str, Any], name_for: Callable[[str], str], *, home_page: str) -> dict:
    """A copy of the statement in which every Agent and Group identified by an IFI (actor,
    object, members, context instructor and team, 2.0 context agents and groups, authority, the
    same inside a sub-statement) carries instead an ``account`` named by ``name_for(ifi)`` under
    ``home_page``, and no ``name``; anonymous groups keep their (pseudonymised) members."""
    return _walk(statement, name_for, home_page)


def _walk(value: Any, name_for: Callable[[str], str], home_page: str) -> Any:
    if isinstance(value, list):
        return [_walk(item, name_for, home_page) for item in value]
    if not isinstance(value, dict):
        return value
    if value.get("objectType", "Agent") in ("Agent", "Group") and (
        any(key in value for key in IFI_PROPERTIES) or "member" in value
    ):
        return _pseudonymous_agent(value, name_for, home_page)
    return {key: _walk(item, name_for, home_page) if key in _WALKED else item for key, item in value.items()}


# Where agents can appear in a statement (xAPI 1.0.3 Data 2.4; 2.0 contextAgents/contextGroups).
_WALKED = frozenset(
    {
        "actor",
        "object",
        "authority",
        "context",
        "instructor",
        "team",
        "contextAgents",
        "contextGroups",
        "agent",
        "group",
    }
)


def _pseudonymous_agent(agent: dict[str, Any], name_for: Callable[[str], str], home_page: str) -> dict:
    ifi = agent_ifi(agent)
    replaced: dict[str, Any] = {"objectType": agent.get("objectType", "Agent")}
    if ifi is not None:
        replaced["account"] = {"homePage": home_page, "name": name_for(ifi)}
    if "member" in agent:
        replaced["member"] = [_walk(member, name_for, home_page) for member in agent["member"] or []]
    return replaced
