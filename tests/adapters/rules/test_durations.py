"""ISO 8601 durations in seconds (xAPI 1.0.3 Data 4.6)."""

from __future__ import annotations

import pytest

from adapters.rules.normalise import duration_seconds

DAY = 86_400


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("PT0S", 0.0),
        ("PT4.25S", 4.25),
        ("PT4,25S", 4.25),
        ("PT1H30M", 5_400.0),
        ("PT4H35M59.14S", 4 * 3600 + 35 * 60 + 59.14),
        ("PT90M", 5_400.0),
        ("PT0.5H", 1_800.0),
        ("P1D", DAY),
        ("P1DT12H", 1.5 * DAY),
        ("P1W", 7 * DAY),
        ("P2.5W", 17.5 * DAY),
        ("PT16559.14S", 16_559.14),
    ],
)
def test_durations_in_seconds(value: str, expected: float) -> None:
    assert duration_seconds(value) == pytest.approx(expected)


def test_a_year_is_365_days_and_a_month_30_days() -> None:
    assert duration_seconds("P1Y") == 365 * DAY
    assert duration_seconds("P1M") == 30 * DAY
    assert duration_seconds("P1Y2M3DT4H5M6S") == pytest.approx(
        365 * DAY + 60 * DAY + 3 * DAY + 4 * 3600 + 5 * 60 + 6
    )


def test_m_means_months_before_t_and_minutes_after() -> None:
    assert duration_seconds("P1M") == 30 * DAY
    assert duration_seconds("PT1M") == 60.0


def test_result_is_a_float() -> None:
    assert isinstance(duration_seconds("PT1H"), float)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "P",
        "PT",
        "1H",
        "PT1H30",
        "P1DT",
        "-PT1H",
        "PT-1H",
        "P1W2D",
        "P16559.14S",
        "PT1.5H30M",
        "P0001-02-03T04:05:06",
        "pt1h",
        "PT1S2M",
        "P1.W",
    ],
)
def test_invalid_durations_raise_value_error(garbage: str) -> None:
    with pytest.raises(ValueError, match="not an ISO 8601 duration"):
        duration_seconds(garbage)


def test_non_strings_raise_value_error() -> None:
    with pytest.raises(ValueError, match="not a string"):
        duration_seconds(3600)  # type: ignore[arg-type]
