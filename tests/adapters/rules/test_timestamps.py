"""Timestamps to UTC ``YYYY-MM-DDTHH:MM:SS.sssZ`` and UTC dates (xAPI 1.0.3 Data 4.5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from adapters.rules.normalise import utc_date, utc_iso8601


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-04T17:00:00Z", "2024-05-04T17:00:00.000Z"),
        ("2024-05-04T17:00:00.000000Z", "2024-05-04T17:00:00.000Z"),
        ("2024-05-04T22:30:00+05:30", "2024-05-04T17:00:00.000Z"),
        ("2024-05-04T09:00:00-08:00", "2024-05-04T17:00:00.000Z"),
        ("2024-05-04T17:00:00+00:00", "2024-05-04T17:00:00.000Z"),
        ("2024-05-04T19:00:00+0200", "2024-05-04T17:00:00.000Z"),
        ("2024-05-04T19:00:00+02", "2024-05-04T17:00:00.000Z"),
        ("2024-05-04t17:00:00z", "2024-05-04T17:00:00.000Z"),
        ("2024-05-04 17:00:00Z", "2024-05-04T17:00:00.000Z"),
    ],
)
def test_offsets_are_converted_to_utc_with_milliseconds(value: str, expected: str) -> None:
    assert utc_iso8601(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-04T17:00:00.1Z", "2024-05-04T17:00:00.100Z"),
        ("2024-05-04T17:00:00.12Z", "2024-05-04T17:00:00.120Z"),
        ("2024-05-04T17:00:00.123Z", "2024-05-04T17:00:00.123Z"),
        ("2024-05-04T17:00:00.1239Z", "2024-05-04T17:00:00.123Z"),
        ("2024-05-04T17:00:00.999999999Z", "2024-05-04T17:00:00.999Z"),
        ("2024-05-04T17:00:00,5Z", "2024-05-04T17:00:00.500Z"),
    ],
)
def test_fractional_seconds_of_any_precision_are_truncated_to_milliseconds(value: str, expected: str) -> None:
    assert utc_iso8601(value) == expected


def test_truncation_never_rounds_up_into_the_next_second() -> None:
    assert utc_iso8601("2024-12-31T23:59:59.9999+00:00") == "2024-12-31T23:59:59.999Z"


def test_offset_moves_the_instant_across_midnight_and_year_end() -> None:
    assert utc_iso8601("2025-01-01T03:00:00.250+05:30") == "2024-12-31T21:30:00.250Z"
    assert utc_iso8601("2024-12-31T20:00:00-08:00") == "2025-01-01T04:00:00.000Z"


def test_leap_day_with_offset() -> None:
    assert utc_iso8601("2024-03-01T01:00:00+05:30") == "2024-02-29T19:30:00.000Z"


def test_basic_format_and_missing_seconds_are_accepted() -> None:
    assert utc_iso8601("20240504T223000+0530") == "2024-05-04T17:00:00.000Z"
    assert utc_iso8601("2024-05-04T17:00Z") == "2024-05-04T17:00:00.000Z"


def test_decimal_fraction_of_minute_is_iso_8601() -> None:
    assert utc_iso8601("2024-05-04T17:00.5Z") == "2024-05-04T17:00:30.000Z"


def test_timestamp_without_offset_is_taken_as_utc() -> None:
    assert utc_iso8601("2024-05-04T17:00:00.5") == "2024-05-04T17:00:00.500Z"


def test_unknown_local_offset_minus_zero_is_utc() -> None:
    assert utc_iso8601("2024-05-04T17:00:00-00:00") == "2024-05-04T17:00:00.000Z"


def test_leap_second_becomes_the_last_millisecond_of_the_minute() -> None:
    assert utc_iso8601("2016-12-31T23:59:60Z") == "2016-12-31T23:59:59.999Z"


def test_surrounding_whitespace_is_ignored() -> None:
    assert utc_iso8601("  2024-05-04T17:00:00Z\n") == "2024-05-04T17:00:00.000Z"


def test_datetime_objects_are_accepted_aware_or_naive() -> None:
    aware = datetime(2024, 5, 4, 22, 30, 0, 123999, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert utc_iso8601(aware) == "2024-05-04T17:00:00.123Z"
    assert utc_iso8601(datetime(2024, 5, 4, 17, 0)) == "2024-05-04T17:00:00.000Z"
    assert utc_date(datetime(2024, 5, 4, 23, 0, tzinfo=UTC)) == "2024-05-04"


def test_lrs_stored_form_is_read_back_unchanged_but_for_precision() -> None:
    assert utc_iso8601("2024-05-04T17:00:00.123456Z") == "2024-05-04T17:00:00.123Z"


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "yesterday",
        "2024-05-04",
        "2024-05-04T",
        "2024-13-01T00:00:00Z",
        "2024-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-05-04T24:00:00Z",
        "2024-05-04T17:60:00Z",
        "2024-05-04T17:00:61Z",
        "2024-05-04T17:00:00+24:00",
        "2024-05-04T17:00:00+05:60",
        "2024-05-04T17:00:00 Z",
        "2024-05-04T17:00:00.Z",
        "2024-05-04T17:00:00ZZ",
        "2024-5-4T17:00:00Z",
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
    ],
)
def test_garbage_raises_value_error_naming_the_value(garbage: str) -> None:
    with pytest.raises(ValueError, match="not an ISO 8601 timestamp") as error:
        utc_iso8601(garbage)
    assert repr(garbage) in str(error.value)


@pytest.mark.parametrize("not_a_string", [None, 1714842000, 17.5, b"2024-05-04T17:00:00Z", ["2024"]])
def test_non_strings_raise_value_error(not_a_string: object) -> None:
    with pytest.raises(ValueError, match="not a string"):
        utc_iso8601(not_a_string)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-04T17:00:00Z", "2024-05-04"),
        ("2024-05-04T23:30:00-08:00", "2024-05-05"),
        ("2024-05-05T02:00:00+05:30", "2024-05-04"),
        ("2024-05-05T05:29:59.999+05:30", "2024-05-04"),
        ("2024-05-05T05:30:00+05:30", "2024-05-05"),
    ],
)
def test_utc_date_is_the_date_in_utc_not_the_local_date(value: str, expected: str) -> None:
    assert utc_date(value) == expected


def test_utc_date_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not an ISO 8601 timestamp"):
        utc_date("04/05/2024")
