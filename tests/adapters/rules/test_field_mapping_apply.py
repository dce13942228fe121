"""Building the marketplace JSON from flat source values, and the named transforms."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.rules.field_mapping import TRANSFORMS, FieldMapping, MappingError, load_field_mapping
from tests.adapters.rules.statements import ADL, COURSE, STATEMENT_ID

BADGES = "xapi:context.extensions[https://lrs.example.org/xapi/extensions/badges]"
CERTIFICATES = "xapi:result.extensions[https://lrs.example.org/xapi/extensions/certificates]"
EVIDENCE = {"statementId": STATEMENT_ID, "activityId": COURSE}


@pytest.fixture(scope="module")
def mapping() -> FieldMapping:
    return load_field_mapping()


def sources(**changes: Any) -> dict[str, Any]:
    """Flat sources for the template mapping; ``name=None`` removes a source."""
    values: dict[str, Any] = {
        "hris:employee_id": "E-1234",
        "xapi:actor.mbox": "mailto:Jane.Doe+lrs@Example.com",
        "lrs:competency.code": "HS-101",
        "lrs:competency.level": 3,
        "xapi:$": {"verb": {"id": ADL + "completed"}, "result": {"completion": True}},
        "xapi:timestamp": "2024-05-04T23:30:00.000-08:00",
        "xapi:result.score": {"raw": 7, "min": 0, "max": 10},
        "lrs:competency.evidence": EVIDENCE,
    }
    for key, value in changes.items():
        key = {"badges": BADGES, "certificates": CERTIFICATES}.get(key, key)
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    return values


def test_builds_the_nested_marketplace_document(mapping: FieldMapping) -> None:
    assert mapping.apply(sources()) == {
        "memberId": "E-1234",
        "email": "jane.doe@example.com",
        "competencyCode": "HS-101",
        "level": 3,
        "learningCompleted": {"completed": True, "date": "2024-05-05"},
        "score": 70.0,
        "evidence": [EVIDENCE],
    }


def test_missing_optional_array_is_omitted(mapping: FieldMapping) -> None:
    document = mapping.apply(sources())
    assert "badges" not in document and "certificates" not in document


def test_optional_arrays_are_included_when_present(mapping: FieldMapping) -> None:
    document = mapping.apply(sources(badges="Fire warden", certificates=["CERT-1", " CERT-2 ", "CERT-1"]))
    assert document["badges"] == ["Fire warden"]
    assert document["certificates"] == ["CERT-1", "CERT-2"]


@pytest.mark.parametrize("empty", [None, "", "  ", []])
def test_empty_optional_values_are_omitted(mapping: FieldMapping, empty: object) -> None:
    assert "badges" not in mapping.apply(sources(badges=empty))
    assert "badges" not in mapping.apply({**sources(), BADGES: empty})


def test_missing_score_is_null_because_the_contract_allows_null(mapping: FieldMapping) -> None:
    assert mapping.apply(sources(**{"xapi:result.score": None}))["score"] is None


def test_unusable_score_is_null(mapping: FieldMapping) -> None:
    assert mapping.apply(sources(**{"xapi:result.score": {"raw": 450}}))["score"] is None


def test_negative_scaled_score_is_zero(mapping: FieldMapping) -> None:
    assert mapping.apply(sources(**{"xapi:result.score": {"scaled": -0.3}}))["score"] == 0.0


def test_a_member_without_an_email_is_mapped_without_one(mapping: FieldMapping) -> None:
    # Members are found by memberId (the HRIS employee id): the e-mail is optional.
    assert "email" not in mapping.apply(sources(**{"xapi:actor.mbox": None}))


@pytest.mark.parametrize(
    "key",
    [
        "hris:employee_id",
        "lrs:competency.code",
        "lrs:competency.level",
        "xapi:$",
        "xapi:timestamp",
        "lrs:competency.evidence",
    ],
)
def test_missing_required_value_raises_naming_the_field(mapping: FieldMapping, key: str) -> None:
    target = next(rule.target_field for rule in mapping.rules if rule.source_key == key)
    with pytest.raises(MappingError) as error:
        mapping.apply(sources(**{key: None}))
    assert error.value.target_field == target
    assert error.value.source_key == key
    assert str(error.value) == f"{target} (from {key}): required value is missing"


def test_blank_required_string_counts_as_missing(mapping: FieldMapping) -> None:
    with pytest.raises(MappingError, match=r"^memberId \(from hris:employee_id\): required value is missing"):
        mapping.apply(sources(**{"hris:employee_id": "   "}))


@pytest.mark.parametrize(
    ("key", "value", "target", "message"),
    [
        ("lrs:competency.level", "three", "level", "to_int failed"),
        ("lrs:competency.level", 3.5, "level", "to_int failed"),
        ("lrs:competency.level", True, "level", "to_int failed"),
        ("lrs:competency.level", 6, "level", "must be within 1-5"),
        ("lrs:competency.level", 0, "level", "must be within 1-5"),
        (
            "xapi:timestamp",
            "yesterday",
            "learningCompleted.date",
            "iso_date failed: not an ISO 8601 timestamp",
        ),
        ("xapi:$", 42, "learningCompleted.completed", "bool_completed failed"),
        ("hris:employee_id", 1234, "memberId", "expected string, got 1234"),
        ("lrs:competency.code", ["HS-101"], "competencyCode", "expected string"),
        ("lrs:competency.evidence", {"statementId": STATEMENT_ID}, "evidence", "items must be objects"),
        ("lrs:competency.evidence", "some text", "evidence", "items must be objects"),
    ],
)
def test_bad_values_raise_mapping_error_naming_the_field(
    mapping: FieldMapping, key: str, value: object, target: str, message: str
) -> None:
    with pytest.raises(MappingError) as error:
        mapping.apply(sources(**{key: value}))
    assert error.value.target_field == target
    assert message in str(error.value)
    assert isinstance(error.value, ValueError)


@pytest.mark.parametrize(
    ("key", "value", "target", "left"),
    [
        ("xapi:actor.mbox", "mailto:jane.doe.example.com", "email", {}),
        ("xapi:result.score", "90%", "score", {"score": None}),  # nullable: null, as when absent
        ("badges", {"name": "Gold"}, "badges", {}),
        ("certificates", [{"id": "CERT-1"}], "certificates", {}),
    ],
)
def test_an_optional_value_that_fails_is_left_out_and_logged_without_it(
    mapping: FieldMapping, key: str, value: object, target: str, left: dict, caplog: pytest.LogCaptureFixture
) -> None:
    # An optional field is extra: one statement's odd value must not stop its record being built.
    with caplog.at_level("WARNING", logger="adapters.rules.field_mapping"):
        document = mapping.apply(sources(**{key: value}))
    assert {field: document[field] for field in left} == left
    assert target not in document or target in left
    assert document["memberId"] == "E-1234" and document["level"] == 3
    [record] = caplog.records
    assert f"optional {target} left out" in record.getMessage()
    for secret in ("jane.doe", "90%", "Gold", "CERT-1"):
        assert secret not in record.getMessage()


def test_level_given_as_text_is_converted(mapping: FieldMapping) -> None:
    assert mapping.apply(sources(**{"lrs:competency.level": " 4 "}))["level"] == 4
    assert mapping.apply(sources(**{"lrs:competency.level": 4.0}))["level"] == 4


def test_evidence_list_is_kept_as_given(mapping: FieldMapping) -> None:
    second = {"statementId": "00000000-0000-4000-8000-000000000000", "activityId": COURSE}
    document = mapping.apply(sources(**{"lrs:competency.evidence": [EVIDENCE, second]}))
    assert document["evidence"] == [EVIDENCE, second]


def test_not_completed_is_false_not_missing(mapping: FieldMapping) -> None:
    statement = {"verb": {"id": ADL + "failed"}, "result": {"completion": False}}
    assert mapping.apply(sources(**{"xapi:$": statement}))["learningCompleted"]["completed"] is False


def test_sources_are_not_modified(mapping: FieldMapping) -> None:
    given = sources(badges="Fire warden")
    before = repr(given)
    mapping.apply(given)
    assert repr(given) == before


def test_unknown_source_keys_are_ignored(mapping: FieldMapping) -> None:
    assert mapping.apply({**sources(), "hris:department": "Ops"}) == mapping.apply(sources())


# --- the transforms themselves -------------------------------------------------------------------------


def test_identity_returns_the_value_unchanged() -> None:
    value = {"a": [1]}
    assert TRANSFORMS["identity"](value) is value


def test_lowercase_email_normalises() -> None:
    assert TRANSFORMS["lowercase_email"]("MAILTO:J.Doe+x@GMAIL.com") == "jdoe@gmail.com"


def test_normalize_score_takes_a_score_object_or_a_bare_number() -> None:
    assert TRANSFORMS["normalize_score_0_100"]({"scaled": 0.5}) == 50.0
    assert TRANSFORMS["normalize_score_0_100"](87.5) == 87.5
    assert TRANSFORMS["normalize_score_0_100"](250) is None


def test_parse_iso8601_gives_utc_milliseconds() -> None:
    assert TRANSFORMS["parse_iso8601"]("2024-05-04T22:30:00.123456+05:30") == "2024-05-04T17:00:00.123Z"


def test_iso_date_takes_a_timestamp_or_a_plain_date() -> None:
    assert TRANSFORMS["iso_date"]("2024-05-04T23:30:00-08:00") == "2024-05-05"
    assert TRANSFORMS["iso_date"]("2024-05-04") == "2024-05-04"
    with pytest.raises(ValueError, match="month must be in"):
        TRANSFORMS["iso_date"]("2024-13-04")


def test_bool_completed_reads_verb_and_completion() -> None:
    assert TRANSFORMS["bool_completed"]({"verb": {"id": ADL + "mastered"}}) is True
    assert TRANSFORMS["bool_completed"]({"verb": {"id": ADL + "attempted"}, "result": {"completion": True}})
    assert TRANSFORMS["bool_completed"]({"verb": {"id": ADL + "attempted"}}) is False


@pytest.mark.parametrize(
    ("value", "expected"), [(3, 3), ("3", 3), ("-2", -2), (" 5 ", 5), ("4.0", 4), (2.0, 2)]
)
def test_to_int(value: object, expected: int) -> None:
    assert TRANSFORMS["to_int"](value) == expected


@pytest.mark.parametrize("value", ["", "x", "3.5", 3.5, True, None, [3], float("inf")])
def test_to_int_rejects_non_integers(value: object) -> None:
    with pytest.raises((ValueError, OverflowError)):
        TRANSFORMS["to_int"](value)


def test_list_of_strings() -> None:
    assert TRANSFORMS["list_of_strings"]("Fire warden") == ["Fire warden"]
    assert TRANSFORMS["list_of_strings"](["a", " b ", "", "a", 7]) == ["a", "b", "7"]
    assert TRANSFORMS["list_of_strings"](("x",)) == ["x"]
    with pytest.raises(ValueError, match="list items must be strings"):
        TRANSFORMS["list_of_strings"](["a", None])
    with pytest.raises(ValueError, match="expected a string or a list"):
        TRANSFORMS["list_of_strings"]({"a": 1})
