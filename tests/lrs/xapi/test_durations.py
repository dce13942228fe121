"""ISO 8601 durations, section 4.4.3.2 format only (Data 4.6)."""

from __future__ import annotations

import pytest

from lrs.xapi.durations import duration_for_comparison, is_duration, validate_duration
from tests.lrs.xapi.examples import assert_rejected

VALID = [
    "PT4H35M59.14S",
    "PT16559.14S",
    "P3Y1M29DT4H35M59.14S",
    "P3Y",
    "P4W",
    "PT1H0M0.1S",  # conformance suite
    "P1DT12H36M0.12567S",  # more than 0.01 s precision MUST NOT be rejected
    "PT0S",
    "P0D",
    "P1M",
    "PT1M",
    "P1Y2M",
    "PT0.5H",
    "P0.5Y",
    "P1,5D",
    "PT1,25S",
    "P2.5W",
]
INVALID = [
    "PA1H0M0S",  # conformance suite
    "should fail",
    "P4W1D",  # weeks cannot be combined
    "P16559.14S",  # the 1.0.3 example without T (fixed to PT16559.14S in later revisions)
    "P",
    "PT",
    "P1DT",
    "1H",
    "PT1H30",
    "pt1h",
    "-P1D",
    "P0003-02-01T04:05:06",  # the alternative format (4.4.3.3) MUST NOT be used
    "PT0.5H1M",  # only the lowest-order component may have a fraction
    "P1.5DT1H",
    "PT1.S",
    "PT.5S",
    "P1D2Y",
    "PT1S1M",
    " PT1S",
    "",
]


@pytest.mark.parametrize("value", VALID)
def test_section_4_4_3_2_durations_are_accepted(value):
    assert is_duration(value)
    assert validate_duration(value, path="statement.result.duration") == value


@pytest.mark.parametrize("value", INVALID)
def test_other_strings_are_rejected_with_rule_duration(value):
    assert not is_duration(value)
    assert_rejected(
        lambda: validate_duration(value, path="statement.result.duration"),
        path="statement.result.duration",
        rule="duration",
    )


@pytest.mark.parametrize("value", [12345, {"key": "invalid"}, None])
def test_non_strings_are_rejected_as_wrong_type(value):
    assert_rejected(
        lambda: validate_duration(value, path="statement.result.duration"),
        path="statement.result.duration",
        rule="not-null" if value is None else "type",
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("P1DT12H36M0.12567S", "P1DT12H36M0.12S"),  # truncated, not rounded
        ("PT1.1S", "PT1.10S"),
        ("PT5S", "PT5.00S"),
        ("PT1,239S", "PT1.23S"),
        ("PT4H35M59.149S", "PT4H35M59.14S"),
        ("P3Y", "P3Y"),
        ("PT1M", "PT1M"),
        ("P4W", "P4W"),
    ],
)
def test_comparison_form_keeps_seconds_to_hundredths(value, expected):
    assert duration_for_comparison(value) == expected


def test_units_are_not_converted_for_comparison():
    assert duration_for_comparison("PT60S") != duration_for_comparison("PT1M")
