"""UUIDs in standard string form (Data 4.4, 2.4.1)."""

from __future__ import annotations

import uuid

import pytest

from lrs.xapi.uuids import is_uuid, parse_uuid, validate_uuid
from tests.lrs.xapi.examples import assert_rejected

VALID = [
    "fd41c918-b88b-4b20-a0a5-a4c32391aaa0",  # version 4, variant 2
    "FD41C918-B88B-4B20-A0A5-A4C32391AAA0",  # upper case
    "12345678-1234-5678-1234-567812345678",  # the spec's example: version 5 digit, variant 0
    "00000000-0000-0000-0000-000000000000",  # nil
    "6ba7b810-9dad-11d1-80b4-00c04fd430c8",  # version 1
    "01890a5d-ac96-774b-bcce-b302099a8057",  # version 7
]
INVALID = [
    "AA97B177-9383-4934-8543-0F91A7A028368",  # conformance suite: too many digits
    "MA97B177-9383-4934-8543-0F91A7A02836",  # conformance suite: non-hex letter
    "{fd41c918-b88b-4b20-a0a5-a4c32391aaa0}",
    "urn:uuid:fd41c918-b88b-4b20-a0a5-a4c32391aaa0",
    "fd41c918b88b4b20a0a5a4c32391aaa0",
    "fd41c918-b88b-4b20-a0a5-a4c32391aaa",
    " fd41c918-b88b-4b20-a0a5-a4c32391aaa0",
    "fd41c918-b88b-4b20-a0a5-a4c32391aaa0\n",
    "",
]


@pytest.mark.parametrize("value", VALID)
def test_any_version_and_variant_in_standard_string_form_is_accepted(value):
    assert is_uuid(value)
    assert parse_uuid(value, path="statement.id") == uuid.UUID(value)


@pytest.mark.parametrize("value", INVALID)
def test_non_standard_forms_are_rejected_with_rule_uuid(value):
    assert not is_uuid(value)
    assert_rejected(
        lambda: validate_uuid(value, path="statement.context.registration"),
        path="statement.context.registration",
        rule="uuid",
    )


@pytest.mark.parametrize("value", [12345, {"key": "should fail"}, ["x"]])
def test_non_strings_are_rejected_with_rule_type(value):
    assert_rejected(lambda: parse_uuid(value, path="statementId"), path="statementId", rule="type")


def test_parse_uuid_returns_a_uuid_object_comparable_regardless_of_case():
    assert parse_uuid(VALID[0], path="p") == parse_uuid(VALID[1], path="p")
