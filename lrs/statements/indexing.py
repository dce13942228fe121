"""What a statement is filed under: the agents and activities the query filters look for.

xAPI 1.0.3 Communication 2.1.3 (GET Statements): ``agent`` matches the Actor or
Object; ``related_agents`` widens that to Authority, Instructor, Team and the same
properties inside a SubStatement. ``activity`` matches the Object;
``related_activities`` widens it to the context activities and the SubStatement.
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#213-get-statements
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lrs.xapi.agents import agent_ifi

AGENT_TYPES = {"Agent", "Group"}


def _agent_and_members(agent: Any) -> Iterator[tuple[str, bool]]:
    """The agent's own IFI (True) and its group members' IFIs (False)."""
    if not isinstance(agent, dict):
        return
    ifi = agent_ifi(agent)
    if ifi:
        yield ifi, True
    for member in agent.get("member") or []:
        member_ifi = agent_ifi(member) if isinstance(member, dict) else None
        if member_ifi:
            yield member_ifi, False


def _object_type(obj: dict) -> str:
    return obj.get("objectType") or "Activity"


def _context_activity_ids(context: dict) -> Iterator[str]:
    for value in (context.get("contextActivities") or {}).values():
        items = value if isinstance(value, list) else [value]
        for activity in items:
            if isinstance(activity, dict) and activity.get("id"):
                yield activity["id"]


def _context_agents(context: dict) -> Iterator[Any]:
    yield context.get("instructor")
    yield context.get("team")
    # xAPI 2.0: contextAgents / contextGroups count as related agents.
    for item in context.get("contextAgents") or []:
        yield item.get("agent") if isinstance(item, dict) else None
    for item in context.get("contextGroups") or []:
        yield item.get("group") if isinstance(item, dict) else None


def _collect(
    statement: dict, agents: dict[str, bool], activities: dict[str, bool], *, top_level: bool
) -> None:
    def add_agent(ifi: str, direct: bool) -> None:
        agents[ifi] = agents.get(ifi, False) or direct

    def add_activity(activity_id: str, direct: bool) -> None:
        activities[activity_id] = activities.get(activity_id, False) or direct

    for ifi, own in _agent_and_members(statement.get("actor")):
        add_agent(ifi, top_level and own)
    obj = statement.get("object") or {}
    kind = _object_type(obj)
    if kind in AGENT_TYPES:
        for ifi, own in _agent_and_members(obj):
            add_agent(ifi, top_level and own)
    elif kind == "Activity" and obj.get("id"):
        add_activity(obj["id"], top_level)
    elif kind == "SubStatement":
        _collect(obj, agents, activities, top_level=False)
    context = statement.get("context") or {}
    for agent in _context_agents(context):
        for ifi, _own in _agent_and_members(agent):
            add_agent(ifi, False)
    for activity_id in _context_activity_ids(context):
        add_activity(activity_id, False)
    if top_level:
        for ifi, _own in _agent_and_members(statement.get("authority")):
            add_agent(ifi, False)


def statement_index_entries(statement: dict) -> tuple[dict[str, bool], dict[str, bool]]:
    """Map agent IFI -> direct and activity id -> direct for one stored statement."""
    agents: dict[str, bool] = {}
    activities: dict[str, bool] = {}
    _collect(statement, agents, activities, top_level=True)
    return agents, activities
