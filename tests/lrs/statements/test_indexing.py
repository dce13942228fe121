"""What a statement is filed under (lrs.statements.indexing): agents and activities, each marked
direct (what ``agent`` and ``activity`` match) or only related (``related_agents`` /
``related_activities``), Communication 2.1.3."""

from __future__ import annotations

from lrs.statements.indexing import statement_index_entries
from tests.lrs.xapi import examples


def mbox(name: str) -> dict:
    return {"mbox": f"mailto:{name}@example.com"}


def test_the_actor_and_an_activity_object_are_direct_and_context_and_authority_are_related():
    statement = {
        "actor": mbox("learner"),
        "verb": {"id": "https://example.com/v"},
        "object": {"id": "https://example.com/a"},
        "context": {
            "instructor": mbox("teacher"),
            "team": {"objectType": "Group", "member": [mbox("peer")]},
            "contextActivities": {
                "parent": [{"id": "https://example.com/course"}],
                "grouping": {"id": "https://example.com/programme"},  # a single object (0.95)
            },
        },
        "authority": mbox("lms"),
    }
    agents, activities = statement_index_entries(statement)
    assert agents == {
        "mbox::mailto:learner@example.com": True,
        "mbox::mailto:teacher@example.com": False,
        "mbox::mailto:peer@example.com": False,
        "mbox::mailto:lms@example.com": False,
    }
    assert activities == {
        "https://example.com/a": True,
        "https://example.com/course": False,
        "https://example.com/programme": False,
    }


def test_a_group_actor_or_object_files_its_own_ifi_and_its_members_as_direct():
    """2.1.3, ``agent``: "Groups that have members which match the specified Agent ... are
    considered a match"; a Group elsewhere (``team``, the authority) files its members as related."""
    group = {"objectType": "Group", "mbox": "mailto:team@EXAMPLE.com", "member": [mbox("a"), mbox("b")]}
    anonymous = {"objectType": "Group", "member": [mbox("c")]}
    agents, _ = statement_index_entries(
        {
            "actor": group,
            "object": anonymous,
            "context": {"team": {"objectType": "Group", "member": [mbox("d")]}},
        }
    )
    assert agents == {
        "mbox::mailto:team@example.com": True,
        "mbox::mailto:a@example.com": True,
        "mbox::mailto:b@example.com": True,
        "mbox::mailto:c@example.com": True,
        "mbox::mailto:d@example.com": False,
    }


def test_an_agent_both_direct_and_related_is_direct_whichever_comes_first():
    member_first = {
        "actor": {"objectType": "Group", "member": [mbox("a")]},
        "object": {"objectType": "Agent", **mbox("a")},
    }
    direct_first = {"actor": mbox("a"), "object": {"id": "https://example.com/x"}, "authority": mbox("a")}
    assert statement_index_entries(member_first)[0] == {"mbox::mailto:a@example.com": True}
    assert statement_index_entries(direct_first)[0] == {"mbox::mailto:a@example.com": True}


def test_everything_inside_a_substatement_is_related_only():
    statement = {
        "actor": mbox("learner"),
        "verb": {"id": "https://example.com/planned"},
        "object": {
            "objectType": "SubStatement",
            "actor": mbox("planner"),
            "verb": {"id": "https://example.com/visit"},
            "object": {"id": "https://example.com/site"},
            "context": {"contextActivities": {"parent": [{"id": "https://example.com/web"}]}},
        },
    }
    agents, activities = statement_index_entries(statement)
    assert agents == {"mbox::mailto:learner@example.com": True, "mbox::mailto:planner@example.com": False}
    assert activities == {"https://example.com/site": False, "https://example.com/web": False}


def test_xapi_2_context_agents_and_groups_are_related():
    agents, _ = statement_index_entries(examples.xapi2_team_game())
    assert agents == {
        "mbox::mailto:player-1@example.com": True,
        "mbox::mailto:coach@example.com": False,
        "mbox::mailto:referee@example.com": False,
        "mbox::mailto:team-a@example.com": False,
        "mbox::mailto:fan@example.com": False,
    }
