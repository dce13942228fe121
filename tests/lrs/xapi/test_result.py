"""Result and Score (Data 2.4.5, 2.4.5.1)."""

from __future__ import annotations

import pytest

from lrs.xapi.result import validate_result, validate_score
from tests.lrs.xapi.examples import assert_rejected, cmi5_completed


def test_a_full_result_is_accepted():
    validate_result(cmi5_completed()["result"], path="statement.result")


def test_an_empty_result_is_accepted():
    validate_result({}, path="statement.result")


@pytest.mark.parametrize(
    "score",
    [
        {"scaled": 1},
        {"scaled": -1},
        {"scaled": 0.6767676},  # conformance suite: many decimal digits
        {"raw": 100.6767676},
        {"raw": -5},
        {"min": 0, "max": 1},
        {"raw": 0, "min": 0, "max": 10},
        {"raw": 10, "min": 0, "max": 10},
        {"raw": 3, "min": 1},
        {"raw": 3, "max": 3},
        {"scaled": 0.5, "raw": 50, "min": 0, "max": 100},
        {},
    ],
)
def test_scores_within_their_ranges_are_accepted(score):
    validate_score(score, path="statement.result.score")


@pytest.mark.parametrize("scaled", [1.0001, -1.5, 85, -2])
def test_scaled_outside_minus_one_to_one_is_rejected(scaled):
    assert_rejected(
        lambda: validate_score({"scaled": scaled}, path="statement.result.score"),
        path="statement.result.score.scaled",
        rule="score-range",
    )


@pytest.mark.parametrize(("low", "high"), [(10, 10), (10, 5), (0.5, 0.25)])
def test_min_must_be_less_than_max(low, high):
    assert_rejected(
        lambda: validate_score({"min": low, "max": high}, path="statement.result.score"),
        path="statement.result.score.min",
        rule="score-range",
    )


@pytest.mark.parametrize("score", [{"raw": -1, "min": 0, "max": 10}, {"raw": -1, "min": 0}])
def test_raw_below_min_is_rejected(score):
    assert_rejected(
        lambda: validate_score(score, path="s.result.score"), path="s.result.score.raw", rule="score-range"
    )


@pytest.mark.parametrize("score", [{"raw": 11, "min": 0, "max": 10}, {"raw": 11, "max": 10}])
def test_raw_above_max_is_rejected(score):
    assert_rejected(
        lambda: validate_score(score, path="s.result.score"), path="s.result.score.raw", rule="score-range"
    )


@pytest.mark.parametrize("name", ["scaled", "raw", "min", "max"])
@pytest.mark.parametrize("value", ["0.5", True, {"key": "invalid"}, [1]])
def test_score_values_must_be_numbers(name, value):
    assert_rejected(
        lambda: validate_score({name: value}, path="statement.result.score"),
        path=f"statement.result.score.{name}",
        rule="type",
    )


def test_score_rejects_unknown_properties():
    assert_rejected(
        lambda: validate_score({"percent": 50}, path="statement.result.score"),
        path="statement.result.score.percent",
        rule="unknown-property",
    )


@pytest.mark.parametrize("name", ["success", "completion"])
@pytest.mark.parametrize("value", ["true", 1, "should fail", {"key": "invalid"}])
def test_success_and_completion_must_be_booleans(name, value):
    assert_rejected(
        lambda: validate_result({name: value}, path="statement.result"),
        path=f"statement.result.{name}",
        rule="type",
    )


@pytest.mark.parametrize("value", [12345, {"key": "invalid"}, ["a"], True])
def test_response_must_be_a_string(value):
    assert_rejected(
        lambda: validate_result({"response": value}, path="statement.result"),
        path="statement.result.response",
        rule="type",
    )


def test_duration_must_be_iso8601():
    assert_rejected(
        lambda: validate_result({"duration": "PA1H0M0S"}, path="statements[1].result"),
        path="statements[1].result.duration",
        rule="duration",
    )


def test_result_extension_keys_must_be_iris():
    assert_rejected(
        lambda: validate_result({"extensions": {"progress": 10}}, path="statement.result"),
        path='statement.result.extensions["progress"]',
        rule="iri",
    )


def test_null_result_properties_are_rejected():
    assert_rejected(
        lambda: validate_result({"success": None}, path="statement.result"),
        path="statement.result.success",
        rule="not-null",
    )
    assert_rejected(
        lambda: validate_score({"scaled": None}, path="statement.result.score"),
        path="statement.result.score.scaled",
        rule="not-null",
    )


@pytest.mark.parametrize("value", ["should fail", 12345, [{}]])
def test_result_and_score_must_be_objects(value):
    assert_rejected(lambda: validate_result(value, path="s.result"), path="s.result", rule="type")
    assert_rejected(
        lambda: validate_result({"score": value}, path="s.result"), path="s.result.score", rule="type"
    )
