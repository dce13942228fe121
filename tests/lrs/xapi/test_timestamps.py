"""Timestamps: ISO 8601 for 1.0.3 (Data 4.5), RFC 3339 for 2.0 (IEEE 9274.1.1), always UTC out."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrs.xapi.errors import XAPIValidationError
from lrs.xapi.timestamps import (
    _common_form,
    _parse_careful,
    canonical_timestamp,
    format_timestamp,
    parse_timestamp,
    validate_timestamp,
)
from tests.lrs.xapi.examples import assert_rejected

# Examples per property; LRS_TIMESTAMP_PROPERTY_EXAMPLES raises them (a longer run) or lowers them.
EXAMPLES = int(os.environ.get("LRS_TIMESTAMP_PROPERTY_EXAMPLES", "600"))

V1, V2 = "1.0.3", "2.0.0"
NOON_UTC = datetime(2024, 5, 4, 17, 0, tzinfo=UTC)

BOTH_VERSIONS = [
    ("2024-05-04T17:00:00Z", NOON_UTC),
    ("2024-05-04T17:00:00.000Z", NOON_UTC),
    ("2024-05-04T12:00:00-05:00", NOON_UTC),  # conformance suite: converted to UTC
    ("2024-05-04T22:30:00+05:30", NOON_UTC),
    ("2024-05-04T17:00:00+00:00", NOON_UTC),
    ("2008-09-15T15:53:00.601+00:00", datetime(2008, 9, 15, 15, 53, 0, 601000, tzinfo=UTC)),
    ("2024-05-04t17:00:00z", NOON_UTC),  # RFC 3339 5.6 allows lower case
    ("2024-05-04T17:00:00.123456789Z", NOON_UTC.replace(microsecond=123456)),  # truncated, not rounded
    ("2024-05-04T17:00:00.9999999Z", NOON_UTC.replace(microsecond=999999)),
    ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),  # leap second
    ("2024-02-29T00:00:00Z", datetime(2024, 2, 29, tzinfo=UTC)),
]
ONLY_V1 = [
    ("2024-05-04T17:00:00", NOON_UTC),  # no offset: SHOULD* include one in 1.0.3, read as UTC
    ("2024-05-04T17:00", NOON_UTC),  # reduced precision
    ("2024-05-04T17:00Z", NOON_UTC),
    ("2024-05-04T17Z", NOON_UTC),
    ("2024-05-04T17:00:00,5Z", NOON_UTC.replace(microsecond=500000)),  # ISO decimal comma
    ("2024-05-04T16.5-00:30", NOON_UTC),  # decimal fraction of an hour
    ("2024-05-04T16:59.5+00", datetime(2024, 5, 4, 16, 59, 30, tzinfo=UTC)),
    ("20240504T170000Z", NOON_UTC),  # ISO 8601 basic format
    ("20240504T120000.000-0500", NOON_UTC),
    ("2024-05-04T12:00:00-0500", NOON_UTC),
    ("2024-05-04T12:00:00-05", NOON_UTC),
]
NEITHER = [
    "should fail",  # conformance suite
    "01/011/2015",  # conformance suite
    "2008-09-15T15:53:00.601-00",  # conformance suite: unknown local offset
    "2008-09-15T15:53:00.601-0000",
    "2008-09-15T15:53:00.601-00:00",
    "2024-05-04",
    "2024-05-04 17:00:00Z",
    "2024-05-04T25:00:00Z",
    "2024-05-04T24:00:00Z",
    "2024-05-04T17:60:00Z",
    "2024-05-04T17:00:61Z",
    "2024-02-30T00:00:00Z",
    "2023-02-29T00:00:00Z",
    "2024-13-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "2024-05-04T17:00:00+24:00",
    "2024-05-04T17:00:00+05:60",
    "2024-05-04T17:00:00.Z",
    "2024-05-04T17:00:00ZZ",
    "2024-05-04T17:00:00 Z",
    "2024-5-4T17:00:00Z",
    "20240504T17:00:00Z",
    "\uff19\uff19\uff19\uff19-01-01T00:00:00Z",  # non-ASCII (full-width) digits
    "",
]
ONLY_V1_REJECTED_IN_V2 = [text for text, _ in ONLY_V1]


@pytest.mark.parametrize("version", [V1, V2])
@pytest.mark.parametrize(("text", "expected"), BOTH_VERSIONS)
def test_rfc3339_timestamps_are_accepted_and_converted_to_utc(text, expected, version):
    parsed = parse_timestamp(text, path="statement.timestamp", version=version)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(("text", "expected"), ONLY_V1)
def test_iso8601_forms_beyond_rfc3339_are_accepted_in_1_0_3(text, expected):
    assert parse_timestamp(text, path="statement.timestamp", version=V1) == expected


@pytest.mark.parametrize("text", ONLY_V1_REJECTED_IN_V2)
def test_2_0_requires_rfc3339_with_an_offset(text):
    assert_rejected(
        lambda: parse_timestamp(text, path="statement.timestamp", version=V2),
        path="statement.timestamp",
        rule="iso8601",
    )


@pytest.mark.parametrize("version", [V1, V2])
@pytest.mark.parametrize("text", NEITHER)
def test_malformed_timestamps_are_rejected_with_rule_iso8601(text, version):
    assert_rejected(
        lambda: validate_timestamp(text, path="statements[2].object.timestamp", version=version),
        path="statements[2].object.timestamp",
        rule="iso8601",
    )


@pytest.mark.parametrize("value", [20240504, None, {"t": 1}, ["2024-05-04T17:00:00Z"]])
def test_non_strings_are_rejected_as_wrong_type(value):
    assert_rejected(
        lambda: parse_timestamp(value, path="since"),
        path="since",
        rule="not-null" if value is None else "type",
    )


@pytest.mark.parametrize(
    "text", ["9999-12-31T23:59:59.9-01:00", "0001-01-01T00:00:00+01:00", "9999-12-31T23:30:00-01:00"]
)
def test_instants_outside_the_representable_range_are_rejected_not_crashing(text):
    assert_rejected(lambda: parse_timestamp(text, path="t"), path="t", rule="iso8601")


def test_any_2_0_patch_version_uses_the_2_0_rules():
    assert_rejected(
        lambda: parse_timestamp("2024-05-04T17:00:00", path="t", version="2.0.3"), path="t", rule="iso8601"
    )


def test_format_is_utc_with_microseconds_and_z():
    assert (
        format_timestamp(datetime(2024, 5, 4, 17, 0, 0, 123000, tzinfo=UTC)) == "2024-05-04T17:00:00.123000Z"
    )


def test_format_converts_other_offsets_to_utc():
    moment = datetime(2024, 5, 4, 12, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert format_timestamp(moment) == "2024-05-04T17:00:00.000000Z"


def test_format_treats_a_naive_datetime_as_utc():
    assert format_timestamp(datetime(2024, 5, 4, 17, 0)) == "2024-05-04T17:00:00.000000Z"


def test_format_pads_small_years():
    assert format_timestamp(datetime(5, 1, 2, 3, 4, 5, 6, tzinfo=UTC)) == "0005-01-02T03:04:05.000006Z"


@pytest.mark.parametrize("version", [V1, V2])
def test_formatted_timestamps_parse_back_to_the_same_instant(version):
    moment = datetime(2024, 5, 4, 17, 0, 1, 654321, tzinfo=UTC)
    assert parse_timestamp(format_timestamp(moment), path="t", version=version) == moment


@pytest.mark.parametrize(
    "text",
    [text for text, _ in BOTH_VERSIONS + ONLY_V1]
    + ["2024-05-04T17:00:00.1Z", "2024-05-04T17:00:59.123456Z", "9999-12-31T23:59:59.999Z"],
)
def test_canonical_timestamp_is_the_formatted_parse_of_every_accepted_form(text):
    # The fast path for plain UTC forms must agree with parsing and formatting.
    assert canonical_timestamp(text) == format_timestamp(parse_timestamp(text, path="t"))


_two = st.integers(0, 99).map("{:02d}".format)


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    st.tuples(
        st.integers(0, 9999).map("{:04d}".format),
        _two,
        _two,
        _two,
        _two,
        _two,
        st.one_of(st.just(""), st.integers(0, 999999).map(lambda n: "." + str(n))),
        st.one_of(
            st.just("Z"), st.tuples(st.sampled_from("+-"), _two, _two).map(lambda t: f"{t[0]}{t[1]}:{t[2]}")
        ),
    ),
    st.sampled_from(["1.0.3", "2.0.0"]),
)
def test_the_common_form_reads_as_the_careful_path_does_or_steps_aside(parts, version):
    year, month, day, hour, minute, second, fraction, offset = parts
    text = f"{year}-{month}-{day}T{hour}:{minute}:{second}{fraction}{offset}"
    fast = _common_form(text)
    try:
        careful = _parse_careful(text, "timestamp", version)
    except XAPIValidationError:
        assert fast is None
    else:
        assert fast is None or (fast == careful and fast.tzinfo is UTC)


def test_the_common_form_takes_what_clients_usually_send():
    assert _common_form("2024-05-04T17:00:00.123Z") == datetime(2024, 5, 4, 17, 0, 0, 123000, tzinfo=UTC)
    assert _common_form("2024-05-04T22:30:00+05:30") == datetime(2024, 5, 4, 17, 0, tzinfo=UTC)
    assert _common_form("2024-05-04T17:00:00-00:00") is None  # unknown local offset: refused
    assert _common_form("2024-05-04T17:00:60Z") is None  # a leap second: the careful path reads it
