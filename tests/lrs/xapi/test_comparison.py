"""Statement Comparison Requirements (Data 2.3.1; IEEE 9274.1.1 4.2 Statement Immutability)."""

from __future__ import annotations

import pytest

from lrs.xapi.comparison import statements_equivalent
from lrs.xapi.normalise import statement_normalise
from tests.lrs.xapi.examples import (
    cmi5_completed,
    planned_substatement,
    scorm_choice_answered,
    voiding,
    xapi2_team_game,
)


def stored_form(statement: dict) -> dict:
    """What the LRS keeps: normalised, with the properties it assigns set or overwritten."""
    stored = statement_normalise(statement)
    stored.setdefault("id", "8f87ccde-bb56-4c2e-ab83-44982ef22df0")
    stored["stored"] = "2024-05-05T00:00:00.000000Z"
    stored.setdefault("timestamp", stored["stored"])
    stored["authority"] = {"account": {"homePage": "https://lrs.example.com", "name": "client-9"}}
    stored.setdefault("version", "1.0.0")
    return stored


@pytest.mark.parametrize(
    "example", [cmi5_completed, scorm_choice_answered, planned_substatement, voiding, xapi2_team_game]
)
def test_a_resent_statement_matches_what_the_lrs_stored(example):
    assert statements_equivalent(example(), stored_form(example()))
    assert statements_equivalent(stored_form(example()), example())


# -- differences that MUST be ignored ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("id", "0e5a1e0c-4c7e-4a3b-9b51-2b8c1d1e2f30"),
        ("stored", "2030-01-01T00:00:00Z"),
        ("timestamp", "2001-01-01T00:00:00Z"),
        ("version", "1.0.3"),
        ("authority", {"mbox": "mailto:someone-else@example.com"}),
        ("attachments", []),
    ],
)
def test_properties_the_lrs_may_assign_and_attachments_are_ignored(name, value):
    a, b = cmi5_completed(), cmi5_completed()
    b[name] = value
    assert statements_equivalent(a, b)
    del b[name]
    assert statements_equivalent(a, b)


def test_activity_definitions_are_ignored_everywhere():
    a, b = cmi5_completed(), cmi5_completed()
    del b["object"]["definition"]
    b["context"]["contextActivities"]["category"][0]["definition"] = {"name": {"en": "cmi5 profile"}}
    assert statements_equivalent(a, b)


def test_verb_display_is_ignored():
    a, b = cmi5_completed(), cmi5_completed()
    b["verb"]["display"] = {"en-GB": "finished"}
    assert statements_equivalent(a, b)


def test_group_member_order_is_ignored():
    a, b = cmi5_completed(), cmi5_completed()
    b["context"]["team"]["member"].reverse()
    assert statements_equivalent(a, b)


def test_member_order_is_ignored_even_when_member_keys_are_ordered_differently():
    a, b = cmi5_completed(), cmi5_completed()
    a["actor"] = {
        "objectType": "Group",
        "member": [{"name": "A", "mbox": "mailto:a@x.com"}, {"mbox": "mailto:b@x.com", "name": "B"}],
    }
    b["actor"] = {
        "objectType": "Group",
        "member": [{"name": "B", "mbox": "mailto:b@x.com"}, {"mbox": "mailto:a@x.com", "name": "A"}],
    }
    assert statements_equivalent(a, b)


def test_a_single_context_activity_equals_a_one_element_array():
    a = scorm_choice_answered()
    b = scorm_choice_answered()
    b["context"]["contextActivities"]["parent"] = [b["context"]["contextActivities"]["parent"]]
    assert statements_equivalent(a, b)


def test_default_object_types_are_equivalent_to_absent_ones():
    a, b = scorm_choice_answered(), scorm_choice_answered()
    b["object"]["objectType"] = "Activity"
    a["actor"].pop("objectType")
    assert statements_equivalent(a, b)


def test_case_insensitive_values_are_compared_case_insensitively():
    a, b = cmi5_completed(), cmi5_completed()
    b["context"]["registration"] = b["context"]["registration"].upper()
    b["context"]["statement"]["id"] = b["context"]["statement"]["id"].upper()
    b["context"]["instructor"]["mbox"] = "mailto:grace@EXAMPLE.com"
    b["context"]["team"]["member"][1]["mbox_sha1sum"] = b["context"]["team"]["member"][1][
        "mbox_sha1sum"
    ].upper()
    b["context"]["language"] = "EN-us"
    assert statements_equivalent(a, b)
    c, d = voiding(), voiding()
    d["object"]["id"] = d["object"]["id"].upper()
    assert statements_equivalent(c, d)


def test_duration_precision_beyond_hundredths_is_ignored():
    a, b = cmi5_completed(), cmi5_completed()
    a["result"]["duration"] = "P1DT12H36M0.12S"
    b["result"]["duration"] = "P1DT12H36M0.1237S"
    assert statements_equivalent(a, b)


def test_equal_numbers_written_differently_are_equal():
    a, b = cmi5_completed(), cmi5_completed()
    b["result"]["score"]["raw"] = 85.0
    assert statements_equivalent(a, b)


def test_substatement_timestamps_are_ignored_like_statement_timestamps():
    a, b = planned_substatement(), planned_substatement()
    b["object"]["timestamp"] = "2031-01-01T00:00:00Z"
    assert statements_equivalent(a, b)


# -- differences that MUST NOT be ignored -----------------------------------------------------------


def changed(mutate) -> bool:
    a, b = cmi5_completed(), cmi5_completed()
    mutate(b)
    return statements_equivalent(a, b)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: s["actor"].update(name="Augusta Ada King"),
        lambda s: s["actor"]["account"].update(name="LEARNER-1625378"),  # account names are case-sensitive
        lambda s: s["verb"].update(id="http://adlnet.gov/expapi/verbs/passed"),
        lambda s: s["object"].update(id=s["object"]["id"] + "/v2"),
        lambda s: s["object"].update(id=s["object"]["id"].upper()),  # IRIs compare as strings
        lambda s: s["result"]["score"].update(raw=86),
        lambda s: s["result"].update(success=False),
        lambda s: s["result"].update(response="SUBMITTED"),
        lambda s: s["result"].update(duration="PT12M34.57S"),
        lambda s: s["result"].pop("completion"),
        lambda s: s["result"]["extensions"].update(
            {"https://w3id.org/xapi/cmi5/result/extensions/progress": 99}
        ),
        lambda s: s["context"].update(registration="6690e6c9-3ef0-4ed3-8b37-7f3964730bee"),
        lambda s: s["context"].update(platform="Other LMS"),
        lambda s: s["context"]["contextActivities"]["category"].pop(),
        lambda s: s["context"]["contextActivities"]["parent"].append({"id": "http://example.com/extra"}),
        lambda s: s["context"]["team"]["member"].pop(),
        lambda s: s["context"]["instructor"].update(
            mbox="mailto:Grace@example.com"
        ),  # local part is case-sensitive
        lambda s: s["context"]["extensions"].update({"https://example.com/xapi/extensions/empty": {}}),
        lambda s: s.pop("context"),
        lambda s: s.pop("result"),
    ],
)
def test_differences_in_the_immutable_parts_make_statements_different(mutate):
    assert not changed(mutate)


def test_units_of_a_duration_are_not_converted():
    assert not changed(lambda s: s["result"].update(duration="PT754.56S"))  # 12M34.56S in seconds


def test_booleans_are_not_numbers():
    a, b = cmi5_completed(), cmi5_completed()
    a["result"]["extensions"] = {"http://example.com/flag": True}
    b["result"]["extensions"] = {"http://example.com/flag": 1}
    assert not statements_equivalent(a, b)


def test_a_substatement_difference_is_not_ignored():
    a, b = planned_substatement(), planned_substatement()
    b["object"]["verb"]["id"] = "http://example.com/attended"
    assert not statements_equivalent(a, b)


def test_context_agent_relevant_types_matter():
    a, b = xapi2_team_game(), xapi2_team_game()
    b["context"]["contextAgents"][0]["relevantTypes"] = [
        "https://example.com/xapi/activity-types/personnel/ref"
    ]
    assert not statements_equivalent(a, b)
