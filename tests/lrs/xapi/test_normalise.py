"""The stored form of a statement (Data 2.4.6.2 contextActivities arrays, 4.5 UTC timestamps)."""

from __future__ import annotations

import json

from lrs.xapi.normalise import statement_normalise
from lrs.xapi.statement import validate_statement
from tests.lrs.xapi.examples import AU, cmi5_completed, planned_substatement, scorm_choice_answered


def test_a_single_context_activity_becomes_a_one_element_array():
    normalised = statement_normalise(scorm_choice_answered())
    assert normalised["context"]["contextActivities"]["parent"] == [{"id": AU}]


def test_context_activity_arrays_are_kept_as_they_are():
    statement = cmi5_completed()
    normalised = statement_normalise(statement)
    assert normalised["context"]["contextActivities"] == statement["context"]["contextActivities"]


def test_substatement_context_activities_are_normalised_too():
    statement = planned_substatement()
    statement["object"]["context"]["contextActivities"]["grouping"] = {"id": "http://example.com/g"}
    normalised = statement_normalise(statement)
    assert normalised["object"]["context"]["contextActivities"]["grouping"] == [
        {"id": "http://example.com/g"}
    ]


def test_timestamps_are_converted_to_utc_with_microseconds():
    normalised = statement_normalise(cmi5_completed())
    assert normalised["timestamp"] == "2024-05-04T10:00:00.123000Z"  # sent as 12:00:00.123+02:00
    assert statement_normalise(planned_substatement())["object"]["timestamp"] == "2030-01-01T00:00:00.000000Z"


def test_a_1_0_3_timestamp_without_offset_is_stored_as_utc():
    statement = scorm_choice_answered()
    statement["timestamp"] = "2024-05-04T10:00:00.5"
    assert statement_normalise(statement)["timestamp"] == "2024-05-04T10:00:00.500000Z"


def test_activities_without_object_type_are_left_as_sent():
    normalised = statement_normalise(scorm_choice_answered())
    assert "objectType" not in normalised["object"]
    assert "objectType" not in normalised["context"]["contextActivities"]["parent"][0]


def test_properties_the_lrs_assigns_are_not_added_here():
    normalised = statement_normalise(scorm_choice_answered())
    for name in ("stored", "authority", "version"):
        assert name not in normalised
    assert "id" not in statement_normalise(planned_substatement())


def test_the_input_is_not_modified_and_only_changed_parts_are_copied():
    # Copy-on-write keeps ingest cheap: unchanged parts are shared (stored statements are
    # immutable, nothing writes into them), the changed ones are new objects.
    statement = cmi5_completed()
    activities = statement["context"]["contextActivities"]
    activities["parent"] = activities["parent"][0]
    before = json.loads(json.dumps(statement))
    normalised = statement_normalise(statement)
    assert statement == before
    assert normalised["context"] is not statement["context"]
    assert isinstance(normalised["context"]["contextActivities"]["parent"], list)
    assert normalised["actor"] is statement["actor"]


def test_normalising_twice_changes_nothing_more():
    once = statement_normalise(cmi5_completed())
    assert statement_normalise(once) == once


def test_the_normalised_statement_is_still_valid_in_both_versions():
    for version in ("1.0.3", "2.0.0"):
        validate_statement(statement_normalise(cmi5_completed()), version=version)
        validate_statement(statement_normalise(scorm_choice_answered()), version=version)
