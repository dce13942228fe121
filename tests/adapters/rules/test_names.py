"""Display names from language maps, activities and actors (xAPI 1.0.3 Data 4.2, 2.4.2, 2.4.4.1)."""

from __future__ import annotations

import pytest

from adapters.rules.normalise import activity_name, actor_display, display_name
from adapters.rules.notifications import learner_name
from tests.adapters.rules.statements import COURSE, activity, make_statement

NAMES = {"en-GB": "Fire safety", "de-DE": "Brandschutz", "fr": "Sécurité incendie", "ja": "防火安全"}


def test_exact_tag_wins() -> None:
    assert display_name(NAMES, ["de-DE"]) == "Brandschutz"


def test_tags_match_case_insensitively() -> None:
    assert display_name(NAMES, ["EN-gb"]) == "Fire safety"
    assert display_name({"zh-Hant-TW": "防火"}, ["zh-hant-tw"]) == "防火"


def test_primary_subtag_finds_a_regional_variant() -> None:
    assert display_name(NAMES, ["en"]) == "Fire safety"
    assert display_name(NAMES, ["de"]) == "Brandschutz"


def test_regional_preference_finds_the_bare_language() -> None:
    assert display_name(NAMES, ["fr-CA"]) == "Sécurité incendie"


def test_among_variants_the_closest_then_the_most_generic_wins() -> None:
    names = {"en-US": "color", "en": "colour (generic)", "en-GB-oxendict": "colour"}
    assert display_name(names, ["en-GB"]) == "colour"
    assert display_name({"en-US": "color", "en": "colour"}, ["en-AU"]) == "colour"
    assert display_name({"zh-Hans-CN": "简体", "zh-Hant-HK": "繁體"}, ["zh-Hant-TW"]) == "繁體"


def test_preference_order_dominates_a_variant_of_the_first_beats_an_exact_second() -> None:
    assert display_name({"fr-CA": "Bonjour", "en": "Hello"}, ["fr", "en"]) == "Bonjour"


def test_first_preferences_exact_match_beats_later_preferences() -> None:
    assert display_name(NAMES, ["ja", "en-GB"]) == "防火安全"


def test_und_is_used_when_no_preference_matches() -> None:
    assert display_name({"und": "Fire safety", "de": "Brandschutz"}, ["es"]) == "Fire safety"


def test_non_english_only_map_falls_back_to_first_key_in_sorted_order() -> None:
    names = {"ja": "防火安全", "de": "Brandschutz", "ru": "Пожарная безопасность"}
    assert display_name(names, ["en-US", "en"]) == "Brandschutz"


def test_no_preferences_still_gives_a_name() -> None:
    assert display_name({"ja": "防火安全", "ar": "السلامة من الحرائق"}, []) == "السلامة من الحرائق"


@pytest.mark.parametrize("empty", [None, {}, "Fire safety", ["en"]])
def test_missing_or_malformed_map_gives_the_fallback(empty: object) -> None:
    assert display_name(empty, ["en"], fallback="course-1") == "course-1"  # type: ignore[arg-type]
    assert display_name(empty, ["en"]) == ""  # type: ignore[arg-type]


def test_blank_and_non_string_values_are_skipped() -> None:
    names = {"en": "  ", "en-GB": None, "fr": "Sécurité", "de": 3}
    assert display_name(names, ["en"]) == "Sécurité"
    assert display_name({"en": ""}, ["en"], fallback="x") == "x"


def test_values_are_stripped() -> None:
    assert display_name({"en": "  Fire safety \n"}, ["en"]) == "Fire safety"


def test_a_single_string_preference_is_one_tag_not_characters() -> None:
    assert display_name({"e": "wrong", "en": "right"}, "en") == "right"  # type: ignore[arg-type]


def test_activity_name_in_the_preferred_language() -> None:
    statement = make_statement(
        object=activity(name={"en-US": "Fire safety", "es": "Seguridad contra incendios"})
    )
    assert activity_name(statement, ["es-MX"]) == "Seguridad contra incendios"
    assert activity_name(statement, ["en"]) == "Fire safety"


def test_activity_name_with_non_english_name_and_english_preference_uses_that_name() -> None:
    statement = make_statement(object=activity(name={"pl": "Bezpieczeństwo pożarowe"}))
    assert activity_name(statement, ["en"]) == "Bezpieczeństwo pożarowe"


def test_activity_name_falls_back_to_the_activity_id() -> None:
    assert activity_name(make_statement(object=activity()), ["en"]) == COURSE
    assert activity_name(make_statement(object={"id": COURSE}), ["en"]) == COURSE
    assert activity_name(make_statement(object=activity(name={})), ["en"]) == COURSE


@pytest.mark.parametrize(
    "obj",
    [
        {"objectType": "Agent", "mbox": "mailto:a@example.com"},
        {"objectType": "StatementRef", "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee"},
        {"objectType": "SubStatement", "actor": {}, "verb": {}, "object": {"id": COURSE}},
    ],
)
def test_non_activity_objects_have_no_activity_name(obj: dict) -> None:
    assert activity_name(make_statement(object=obj), ["en"]) == ""


def test_actor_display_prefers_the_name() -> None:
    assert actor_display(make_statement()) == "Jane Doe"


def test_actor_display_uses_the_email_without_mailto_as_written() -> None:
    actor = {"objectType": "Agent", "mbox": "mailto:Jane.Doe+lrs@Example.com"}
    assert actor_display(make_statement(actor=actor)) == "Jane.Doe+lrs@Example.com"


def test_actor_display_uses_the_account_name() -> None:
    actor = {"account": {"homePage": "https://hr.example.com", "name": "E-1234"}}
    assert actor_display(make_statement(actor=actor)) == "E-1234"


def test_actor_display_uses_openid_last() -> None:
    assert actor_display(make_statement(actor={"openid": "https://id.example.com/jane"})) == (
        "https://id.example.com/jane"
    )


def test_actor_display_blank_name_is_ignored() -> None:
    assert (
        actor_display(make_statement(actor={"name": " ", "mbox": "mailto:j@example.com"})) == "j@example.com"
    )


def test_actor_display_of_sha1_only_agent_is_empty() -> None:
    assert actor_display(make_statement(actor={"mbox_sha1sum": "a" * 40})) == ""


def test_identified_group_shows_its_name_or_identifier_not_its_members() -> None:
    members = [{"name": "Ann", "mbox": "mailto:ann@example.com"}]
    named = {"objectType": "Group", "name": "Team Red", "mbox": "mailto:red@example.com", "member": members}
    unnamed = {
        "objectType": "Group",
        "account": {"homePage": "https://x", "name": "team-red"},
        "member": members,
    }
    assert actor_display(make_statement(actor=named)) == "Team Red"
    assert actor_display(make_statement(actor=unnamed)) == "team-red"


def test_anonymous_group_shows_its_members() -> None:
    group = {
        "objectType": "Group",
        "member": [
            {"name": "Ann", "mbox": "mailto:ann@example.com"},
            {"mbox": "mailto:bob@example.com"},
            {"mbox_sha1sum": "b" * 40},
            {"account": {"homePage": "https://x", "name": "carol"}},
        ],
    }
    assert actor_display(make_statement(actor=group)) == "Ann, bob@example.com, carol"


def test_actor_display_of_a_missing_actor_is_empty() -> None:
    assert actor_display(make_statement(actor=None)) == ""
    assert actor_display(make_statement(actor={"objectType": "Group"})) == ""


@pytest.mark.parametrize(
    "actor",
    [
        {"mbox": "mailto:jane@example.com"},
        {"name": " ", "mbox": "mailto:jane@example.com"},
        {"account": {"homePage": "https://hr.example.com", "name": "E-1234"}},
        {"openid": "https://id.example.com/jane"},
    ],
    ids=["mbox", "blank name", "account", "openid"],
)
def test_a_chat_names_a_learner_without_a_name_a_learner_never_by_identifier(actor) -> None:
    assert learner_name(make_statement(actor=actor)) == "A learner"
    assert learner_name(make_statement()) == "Jane Doe"
