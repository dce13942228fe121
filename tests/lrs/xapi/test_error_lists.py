"""Every validation error of a statement or batch, first one first, capped (lrs.xapi.errors)."""

from __future__ import annotations

import pytest

from lrs.xapi.errors import MAX_ERRORS, ErrorCollector, XAPIConflict, XAPIValidationError
from lrs.xapi.json_types import check_properties
from lrs.xapi.statement import validate_statement, validate_statements
from tests.lrs.xapi.examples import cmi5_completed


def errors_of(call) -> list[tuple[str, str]]:
    with pytest.raises(XAPIValidationError) as caught:
        call()
    return [(error.path, error.rule) for error in caught.value.errors]


def test_check_properties_reports_every_unknown_null_and_missing_key_in_that_order():
    found = errors_of(
        lambda: check_properties(
            {"b": 1, "x": None, "c": 2}, "o", frozenset({"x", "y", "z"}), ("y", "z"), what="an O"
        )
    )
    assert found == [
        ("o.b", "unknown-property"),
        ("o.x", "not-null"),
        ("o.c", "unknown-property"),
        ("o.y", "required"),
        ("o.z", "required"),
    ]


def test_a_statement_missing_required_properties_still_has_the_others_checked():
    assert errors_of(lambda: validate_statement({"verb": {"id": "nope"}, "timestamp": 3})) == [
        ("statement.actor", "required"),
        ("statement.object", "required"),
        ("statement.verb.id", "iri"),
        ("statement.timestamp", "type"),
    ]


def test_a_substatement_lists_its_errors_inside_the_statement_list():
    statement = cmi5_completed()
    statement["object"] = {
        "objectType": "SubStatement",
        "actor": {"objectType": "Agent"},
        "verb": {"id": "x"},
        "object": {"id": "http://example.com/a"},
    }
    statement.pop("context")  # its revision and platform need an Activity object
    statement["timestamp"] = "never"
    assert errors_of(lambda: validate_statement(statement)) == [
        ("statement.object.actor", "one-ifi"),
        ("statement.object.verb.id", "iri"),
        ("statement.timestamp", "iso8601"),
    ]


def test_a_voiding_statement_with_an_invalid_activity_object_reports_both():
    statement = cmi5_completed()
    statement["verb"] = {"id": "http://adlnet.gov/expapi/verbs/voided"}
    statement["object"] = {"id": "not an iri"}
    assert errors_of(lambda: validate_statement(statement)) == [
        ("statement.object.id", "iri"),
        ("statement.object.objectType", "voiding-object"),
    ]


def test_a_batch_lists_the_errors_of_every_statement_in_order():
    bad = cmi5_completed()
    bad["verb"]["id"] = "x"
    found = errors_of(lambda: validate_statements([bad, cmi5_completed(), "no"]))
    assert found == [("statements[0].verb.id", "iri"), ("statements[2]", "type")]


def test_a_single_statement_batch_uses_the_statement_path():
    assert errors_of(lambda: validate_statements([[]])) == [("statement", "type")]


def test_the_collector_stops_at_the_cap():
    bad = cmi5_completed()
    bad["verb"]["id"] = "x"
    with pytest.raises(XAPIValidationError) as caught:
        validate_statements([bad] * (MAX_ERRORS * 3))
    assert len(caught.value.errors) == MAX_ERRORS


def test_the_collector_lets_other_errors_through():
    found = ErrorCollector()
    with pytest.raises(XAPIConflict), found:
        raise XAPIConflict("taken", path="statement.id", rule="statement-id-conflict")
    found.raise_if_any()  # nothing collected: no error


def test_the_body_keeps_the_first_error_at_the_top_and_lists_all():
    with pytest.raises(XAPIValidationError) as caught:
        validate_statement({"verb": {"id": "nope"}})
    body = caught.value.as_dict()
    assert (body["path"], body["rule"]) == ("statement.actor", "required")
    assert body["errors"][0] == {"path": body["path"], "rule": body["rule"], "message": body["message"]}
    assert len(body["errors"]) == 3
