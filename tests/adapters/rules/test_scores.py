"""Result scores as a 0-100 percentage (xAPI 1.0.3 Data 2.4.5.1)."""

from __future__ import annotations

import math

import pytest

from adapters.rules.normalise import score_0_100


@pytest.mark.parametrize(
    ("scaled", "expected"),
    [(1, 100.0), (0.82, 82.0), (0.5, 50.0), (0, 0.0), (0.123456, 12.35), (0.999999, 100.0)],
)
def test_scaled_score_is_multiplied_by_100_and_rounded_to_2_decimals(scaled: float, expected: float) -> None:
    assert score_0_100({"scaled": scaled}) == expected


@pytest.mark.parametrize("scaled", [-0.0001, -0.5, -1])
def test_negative_scaled_score_becomes_zero(scaled: float) -> None:
    result = score_0_100({"scaled": scaled})
    assert result == 0.0
    assert math.copysign(1, result) == 1  # never -0.0


def test_scaled_beats_raw_when_both_are_present() -> None:
    assert score_0_100({"scaled": 0.9, "raw": 3, "min": 0, "max": 10}) == 90.0


def test_out_of_range_scaled_is_clamped() -> None:
    assert score_0_100({"scaled": 1.5}) == 100.0


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        ({"raw": 7, "min": 0, "max": 10}, 70.0),
        ({"raw": 15, "min": 10, "max": 20}, 50.0),
        ({"raw": -5, "min": -10, "max": 10}, 25.0),
        ({"raw": 2, "min": 0, "max": 3}, 66.67),
        ({"raw": 1, "min": 0, "max": 3}, 33.33),
        ({"raw": 450, "min": 200, "max": 800}, 41.67),
        ({"raw": 10, "min": 10, "max": 20}, 0.0),
        ({"raw": 20, "min": 10, "max": 20}, 100.0),
    ],
)
def test_raw_is_scaled_within_min_and_max(score: dict, expected: float) -> None:
    assert score_0_100(score) == expected


def test_raw_with_max_only_reads_min_as_zero() -> None:
    assert score_0_100({"raw": 7, "max": 10}) == 70.0


def test_raw_outside_min_max_is_clamped_to_the_range() -> None:
    assert score_0_100({"raw": 12, "min": 0, "max": 10}) == 100.0
    assert score_0_100({"raw": -2, "min": 0, "max": 10}) == 0.0


def test_degenerate_range_falls_back_to_raw_alone() -> None:
    assert score_0_100({"raw": 5, "min": 5, "max": 5}) == 5.0
    assert score_0_100({"raw": 500, "min": 10, "max": 10}) is None


@pytest.mark.parametrize(("raw", "expected"), [(0, 0.0), (42, 42.0), (87.456, 87.46), (100, 100.0)])
def test_raw_alone_within_0_100_is_taken_as_a_percentage(raw: float, expected: float) -> None:
    assert score_0_100({"raw": raw}) == expected


@pytest.mark.parametrize("raw", [-1, 100.01, 450])
def test_raw_alone_outside_0_100_is_not_a_percentage(raw: float) -> None:
    assert score_0_100({"raw": raw}) is None


def test_raw_with_min_only_is_read_as_raw_alone() -> None:
    assert score_0_100({"raw": 40, "min": 0}) == 40.0


@pytest.mark.parametrize(
    "score",
    [
        None,
        {},
        {"min": 0, "max": 10},
        {"scaled": "0.5"},
        {"scaled": True},
        {"raw": None},
        {"raw": float("nan")},
        {"scaled": float("inf")},
        "0.5",
        0.5,
        [0.5],
    ],
)
def test_nothing_usable_gives_none(score: object) -> None:
    assert score_0_100(score) is None  # type: ignore[arg-type]


def test_unusable_scaled_falls_back_to_raw() -> None:
    assert score_0_100({"scaled": "high", "raw": 3, "max": 4}) == 75.0


@pytest.mark.parametrize(
    "score",
    [
        {"scaled": 1.0000001},
        {"scaled": -1},
        {"raw": 1e9, "min": 0, "max": 1},
        {"raw": -1e9, "min": 0, "max": 1},
        {"raw": 99.999},
    ],
)
def test_result_is_never_outside_0_100(score: dict) -> None:
    result = score_0_100(score)
    assert result is not None and 0.0 <= result <= 100.0


def test_result_is_a_float() -> None:
    assert isinstance(score_0_100({"raw": 50}), float)
