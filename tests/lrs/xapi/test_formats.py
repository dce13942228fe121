"""The ids and canonical statement formats, and Accept-Language (Communication 2.1.3)."""

from __future__ import annotations

import copy

import pytest

from lrs.xapi.formats import (
    best_language,
    parse_accept_language,
    statement_canonical_format,
    statement_ids_format,
)
from lrs.xapi.normalise import statement_normalise
from lrs.xapi.statement import validate_statement
from tests.lrs.xapi.examples import (
    AU,
    COURSE,
    cmi5_completed,
    planned_substatement,
    scorm_choice_answered,
    voiding,
    xapi2_team_game,
)

# -- ids -------------------------------------------------------------------------------------------


def test_ids_format_reduces_agents_activities_and_verbs_to_their_identifiers():
    reduced = statement_ids_format(cmi5_completed())
    assert reduced["actor"] == {
        "objectType": "Agent",
        "account": {"homePage": "https://lms.example.com", "name": "learner-1625378"},
    }
    assert reduced["verb"] == {"id": "http://adlnet.gov/expapi/verbs/completed"}
    assert reduced["object"] == {"id": AU}  # XAPI-00171: exactly one key


def test_ids_format_reduces_context_agents_groups_and_activities():
    context = statement_ids_format(cmi5_completed())["context"]
    assert context["instructor"] == {"objectType": "Agent", "mbox": "mailto:grace@example.com"}
    assert context["team"] == {  # an anonymous group keeps what identifies each member
        "objectType": "Group",
        "member": [
            {"objectType": "Agent", "mbox": "mailto:ada@example.com"},
            {"objectType": "Agent", "mbox_sha1sum": "cd9b00a5611f94eaa7b1661edab976068e364975"},
        ],
    }
    assert context["contextActivities"]["parent"] == [{"id": COURSE}]
    assert all(set(item) == {"id"} for item in context["contextActivities"]["category"])
    assert context["registration"] == cmi5_completed()["context"]["registration"]
    assert context["extensions"] == cmi5_completed()["context"]["extensions"]


def test_ids_format_reduces_the_authority_group_members():
    authority = statement_ids_format(cmi5_completed())["authority"]
    assert authority["member"][1] == {"objectType": "Agent", "mbox": "mailto:admin@example.com"}


def test_ids_format_drops_the_members_of_an_identified_group():
    statement = cmi5_completed()
    statement["object"] = {
        "objectType": "Group",
        "name": "Team 7",
        "mbox": "mailto:team7@example.com",
        "member": [{"mbox": "mailto:a@example.com"}],
    }
    assert statement_ids_format(statement)["object"] == {
        "objectType": "Group",
        "mbox": "mailto:team7@example.com",
    }


def test_ids_format_keeps_everything_that_is_not_an_agent_activity_or_verb():
    statement = cmi5_completed()
    reduced = statement_ids_format(statement)
    for name in ("id", "result", "timestamp", "stored", "version", "attachments"):
        assert reduced[name] == statement[name]


def test_ids_format_applies_inside_substatements():
    reduced = statement_ids_format(planned_substatement())["object"]
    assert reduced["objectType"] == "SubStatement"
    assert reduced["verb"] == {"id": "http://example.com/visited"}
    assert reduced["object"] == {"id": "http://example.com/website"}
    assert reduced["actor"] == {"objectType": "Agent", "mbox": "mailto:test@example.com"}


def test_ids_format_handles_single_context_activities_and_statement_refs():
    reduced = statement_ids_format(scorm_choice_answered())
    assert reduced["context"]["contextActivities"]["parent"] == {"id": AU}
    assert statement_ids_format(voiding())["object"] == voiding()["object"]


def test_ids_format_reduces_context_agents_and_groups():
    context = statement_ids_format(xapi2_team_game())["context"]
    assert context["contextAgents"][1] == {
        "objectType": "contextAgent",
        "agent": {"objectType": "Agent", "mbox": "mailto:referee@example.com"},
    }
    assert context["contextGroups"][0]["group"] == {
        "objectType": "Group",
        "mbox": "mailto:team-a@example.com",
    }
    assert context["contextGroups"][0]["relevantTypes"] == [
        "https://example.com/xapi/activity-types/team/home"
    ]


def test_ids_format_output_is_still_a_valid_statement():
    for example, version in [
        (cmi5_completed, "1.0.3"),
        (planned_substatement, "1.0.3"),
        (xapi2_team_game, "2.0.0"),
    ]:
        validate_statement(statement_ids_format(example()), version=version)


def test_ids_format_does_not_modify_its_input():
    statement = cmi5_completed()
    statement_ids_format(statement)
    assert statement == cmi5_completed()


# -- Accept-Language -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("da, en-gb;q=0.8, en;q=0.7", ["da", "en-gb", "en"]),
        ("en;q=0.5, fr", ["fr", "en"]),
        ("de-DE", ["de-DE"]),
        ("", []),
        ("  ,  ", []),
        ("fr;q=0, en", ["en"]),
        ("en;q=abc, fr;q=0.9", ["en", "fr"]),
        ("*;q=0.1, es", ["es", "*"]),
        ("en-US ; q=0.9 , de ; q=0.9", ["en-US", "de"]),
    ],
)
def test_accept_language_is_ordered_by_quality_keeping_header_order_for_ties(header, expected):
    assert parse_accept_language(header) == expected


@pytest.mark.parametrize(
    ("keys", "languages", "expected"),
    [
        (["en-US", "fr-FR"], ["fr-FR"], "fr-FR"),
        (["en-US", "fr-FR"], ["fr"], "fr-FR"),  # RFC 2616: the range "fr" matches "fr-FR"
        (["en-US", "fr-FR"], ["FR-fr"], "fr-FR"),  # case-insensitive
        (["en-US", "de"], ["de-AT"], "de"),  # lookup fallback: "de-AT" truncated to "de"
        (["en-US", "de", "fr"], ["es", "fr"], "fr"),  # the second preference
        (["de", "en-GB", "en-US"], ["ja"], "en-US"),  # no match: en-US first
        (["de", "en", "fr"], [], "en"),
        (["de", "en-AU"], ["*"], "en-AU"),
        (["de", "fr"], ["ja"], "de"),  # finally the first entry
        (["es"], ["en"], "es"),
    ],
)
def test_the_best_language_follows_accept_language_then_falls_back(keys, languages, expected):
    assert best_language(keys, languages) == expected


def test_there_is_no_best_language_in_an_empty_map():
    assert best_language([], ["en"]) is None


# -- canonical -------------------------------------------------------------------------------------


def test_canonical_format_keeps_one_language_in_every_activity_and_verb_map():
    canonical = statement_canonical_format(cmi5_completed(), ["de-DE", "fr"])
    assert canonical["verb"]["display"] == {"de-DE": "abgeschlossen"}
    assert canonical["object"]["definition"]["name"] == {"fr-FR": "Quiz 3 : équations linéaires"}
    assert canonical["object"]["definition"]["description"] == {
        "en-US": "Ten questions on solving linear equations."
    }


def test_canonical_format_filters_interaction_component_descriptions():
    canonical = statement_canonical_format(scorm_choice_answered(), ["fr"])
    assert canonical["object"]["definition"]["choices"][0]["description"] == {"fr": "quatre"}
    assert canonical["object"]["definition"]["choices"][1]["description"] == {"en-US": "7"}


def test_canonical_format_filters_context_activities_substatements_and_attachments():
    statement = cmi5_completed()
    statement["context"]["contextActivities"]["parent"][0]["definition"] = {
        "name": {"en": "Algebra", "es": "Álgebra"}
    }
    statement["attachments"][0]["display"] = {"en-US": "Certificate", "es": "Certificado"}
    canonical = statement_canonical_format(statement, ["es"])
    assert canonical["context"]["contextActivities"]["parent"][0]["definition"]["name"] == {"es": "Álgebra"}
    assert canonical["attachments"][0]["display"] == {"es": "Certificado"}
    nested = statement_canonical_format(planned_substatement(), ["en"])["object"]
    assert nested["verb"]["display"] == {"en-US": "will visit"}


def test_canonical_format_returns_agents_as_in_exact():
    statement = cmi5_completed()
    canonical = statement_canonical_format(statement, ["en"])
    assert canonical["actor"] == statement["actor"]
    assert canonical["context"]["team"] == statement["context"]["team"]


def test_canonical_format_leaves_extensions_alone():
    statement = cmi5_completed()
    statement["object"]["definition"]["extensions"] = {"http://example.com/x": {"en": "a", "de": "b"}}
    canonical = statement_canonical_format(statement, ["de"])
    assert canonical["object"]["definition"]["extensions"] == {"http://example.com/x": {"en": "a", "de": "b"}}


def test_canonical_format_does_not_modify_its_input_and_stays_valid():
    statement = statement_normalise(cmi5_completed())
    before = copy.deepcopy(statement)
    canonical = statement_canonical_format(statement, ["fr"])
    assert statement == before
    validate_statement(canonical)
