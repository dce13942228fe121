"""What a statement is filed under: the agents and activities the query filters look for.

xAPI 1.0.3 Communication 2.1.3 (GET Statements): ``agent`` matches the Actor or
Object (and the members of a Group there); ``related_agents`` widens that to Authority,
Instructor, Team and the same properties inside a SubStatement. ``activity`` matches the Object;
``related_activities`` widens it to the context activities and the SubStatement.
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#213-get-statements
"""

from __future__ import annotations

from typing import Any

from lrs.xapi.agents import agent_ifi
from lrs.xapi.json_fast import parse_stored

AGENT_TYPES = {"Agent", "Group"}


def _file_agent(agents: dict[str, bool], agent: Any, direct: bool) -> None:
    """File the agent's own IFI and its group members' IFIs, ``direct`` as given: the plain
    ``agent`` filter matches a Group actor or object the agent is a member of (2.1.3, ``agent``:
    "Groups that have members which match the specified Agent ... are considered a match"). An
    IFI filed twice is direct if it was direct either time."""
    if not isinstance(agent, dict):
        return
    ifi = agent_ifi(agent)
    if ifi:
        _file_ifi(agents, ifi, direct)
    for member in agent.get("member") or ():
        member_ifi = agent_ifi(member) if isinstance(member, dict) else None
        if member_ifi:
            _file_ifi(agents, member_ifi, direct)


def _file_ifi(agents: dict[str, bool], ifi: str, direct: bool) -> None:
    if direct:
        agents[ifi] = True
    else:
        agents.setdefault(ifi, False)


def _file_activity(activities: dict[str, bool], activity_id: str, direct: bool) -> None:
    if direct:
        activities[activity_id] = True
    else:
        activities.setdefault(activity_id, False)


def _collect(
    statement: dict, agents: dict[str, bool], activities: dict[str, bool], *, top_level: bool
) -> None:
    # Plain loops and two small helpers: this runs for every stored statement, and the
    # generators and closures it was written with cost twice as much.
    _file_agent(agents, statement.get("actor"), top_level)
    obj = statement.get("object") or {}
    kind = obj.get("objectType") or "Activity"
    if kind in AGENT_TYPES:
        _file_agent(agents, obj, top_level)
    elif kind == "Activity":
        if obj.get("id"):
            _file_activity(activities, obj["id"], top_level)
    elif kind == "SubStatement":
        _collect(obj, agents, activities, top_level=False)
    context = statement.get("context") or {}
    if context:
        _file_agent(agents, context.get("instructor"), False)
        _file_agent(agents, context.get("team"), False)
        # xAPI 2.0: contextAgents / contextGroups count as related agents.
        for item in context.get("contextAgents") or ():
            _file_agent(agents, item.get("agent") if isinstance(item, dict) else None, False)
        for item in context.get("contextGroups") or ():
            _file_agent(agents, item.get("group") if isinstance(item, dict) else None, False)
        for value in (context.get("contextActivities") or {}).values():
            for activity in value if isinstance(value, list) else (value,):
                if isinstance(activity, dict) and activity.get("id"):
                    activities.setdefault(activity["id"], False)
    if top_level:
        _file_agent(agents, statement.get("authority"), False)


def statement_index_entries(statement: dict) -> tuple[dict[str, bool], dict[str, bool]]:
    """Map agent IFI -> direct and activity id -> direct for one stored statement."""
    agents: dict[str, bool] = {}
    activities: dict[str, bool] = {}
    _collect(statement, agents, activities, top_level=True)
    return agents, activities


def statement_attachment_hashes(statement: dict, *, with_file_url: bool = True) -> list[str]:
    """The ``sha2`` of each attachment of a stored statement and of its SubStatement, in order,
    without repeats: the hashes whose bytes it needs (Data 2.4.11, 2.4.4.3 SubStatement). In lower
    case, as the bytes are kept (``lrs.xapi.multipart``): a statement may write its hex digits in
    either case. ``with_file_url=False``: only those without a ``fileUrl``, whose bytes the
    statement itself had to send (Communication 1.5.2); one with a fileUrl may name bytes another
    statement sent."""
    hashes: dict[str, None] = {}
    holders = [statement]
    obj = statement.get("object")
    if isinstance(obj, dict) and obj.get("objectType") == "SubStatement":
        holders.append(obj)
    for holder in holders:
        for attachment in holder.get("attachments") or ():
            if not isinstance(attachment, dict) or (not with_file_url and "fileUrl" in attachment):
                continue
            if isinstance(attachment.get("sha2"), str):
                hashes.setdefault(attachment["sha2"].lower(), None)
    return list(hashes)


def attachment_hashes(payloads: list[str]) -> list[str]:
    """The ``sha2`` of every attachment of these stored statements and of their SubStatements, in
    order, without repeats (for ``attachments=true`` responses, Communication 2.1.3)."""
    hashes: dict[str, None] = {}
    for payload in payloads:
        if '"attachments"' in payload:
            hashes.update(dict.fromkeys(statement_attachment_hashes(parse_stored(payload))))
    return list(hashes)
