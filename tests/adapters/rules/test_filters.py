"""Which statements a target takes (default: completed or scored)."""

from __future__ import annotations

from adapters.rules.filters import statement_matches
from tests.conftest import make_statement

ADL = "http://adlnet.gov/expapi/verbs/"


def test_default_takes_completion_verbs():
    for verb in ("completed", "passed", "failed", "mastered"):
        assert statement_matches(make_statement(verb=ADL + verb), {})
    assert not statement_matches(make_statement(verb=ADL + "experienced"), {})


def test_default_takes_completion_true_or_any_score_whatever_the_verb():
    assert statement_matches(make_statement(verb=ADL + "answered", result={"completion": True}), {})
    assert statement_matches(make_statement(verb=ADL + "answered", result={"score": {"raw": 3}}), {})
    assert not statement_matches(make_statement(verb=ADL + "answered", result={"completion": False}), {})


def test_verbs_list_widens_or_narrows_the_default():
    attended = make_statement(verb=ADL + "attended")
    assert statement_matches(attended, {"verbs": [ADL + "attended"]})
    assert not statement_matches(make_statement(verb=ADL + "failed"), {"verbs": [ADL + "passed"]})


def test_scores_can_be_switched_off():
    scored = make_statement(verb=ADL + "answered", result={"score": {"raw": 3}})
    assert not statement_matches(scored, {"match_score": False})


def test_activity_id_and_type_narrow():
    course = make_statement(activity="http://example.com/courses/a")
    assert statement_matches(course, {"activity_ids": ["http://example.com/courses/a"]})
    assert not statement_matches(course, {"activity_ids": ["http://example.com/courses/b"]})
    typed = make_statement()
    typed["object"]["definition"]["type"] = "http://adlnet.gov/expapi/activities/course"
    assert statement_matches(typed, {"activity_types": ["http://adlnet.gov/expapi/activities/course"]})
    agent_object = make_statement(object={"objectType": "Agent", "mbox": "mailto:x@example.com"})
    assert not statement_matches(agent_object, {"activity_ids": ["http://example.com/courses/a"]})


def test_success_and_minimum_score_narrow():
    passed = make_statement(verb=ADL + "passed", result={"success": True, "score": {"scaled": 0.9}})
    failed = make_statement(verb=ADL + "failed", result={"success": False, "score": {"scaled": 0.3}})
    assert statement_matches(passed, {"success": True}) and not statement_matches(failed, {"success": True})
    assert statement_matches(passed, {"min_scaled_score": 0.8})
    assert not statement_matches(failed, {"min_scaled_score": 0.8})
