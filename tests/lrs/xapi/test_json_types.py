"""JSON types, property sets and strict JSON parsing (Data 2.2 Formatting Requirements)."""

from __future__ import annotations

import math

import pytest

from lrs.xapi.json_types import check_properties, child, parse_json, require_boolean, require_number
from tests.lrs.xapi.examples import assert_rejected

ALLOWED = frozenset({"id", "display"})


def test_child_paths_use_dots_for_identifiers_and_brackets_for_other_keys():
    assert child("statement.verb", "display") == "statement.verb.display"
    assert child("statement.verb.display", "en-US") == 'statement.verb.display["en-US"]'
    assert child("x.extensions", "http://e.com/a") == 'x.extensions["http://e.com/a"]'


def test_unknown_property_is_reported_at_the_unknown_key():
    error = assert_rejected(
        lambda: check_properties({"id": "x", "dispaly": {}}, "statement.verb", ALLOWED, what="a Verb"),
        path="statement.verb.dispaly",
        rule="unknown-property",
    )
    assert "display" in error.message  # the allowed keys are listed


def test_key_case_must_match_the_specification_exactly():
    assert_rejected(
        lambda: check_properties({"ID": "x"}, "statement.verb", ALLOWED),
        path="statement.verb.ID",
        rule="unknown-property",
    )


def test_null_value_is_rejected_as_not_null():
    assert_rejected(
        lambda: check_properties({"id": "x", "display": None}, "statement.verb", ALLOWED),
        path="statement.verb.display",
        rule="not-null",
    )


def test_missing_required_property_is_reported_at_its_path():
    assert_rejected(
        lambda: check_properties({"display": {}}, "statement.verb", ALLOWED, ("id",)),
        path="statement.verb.id",
        rule="required",
    )


def test_unknown_property_is_reported_before_a_missing_one():
    assert_rejected(
        lambda: check_properties({"iD": "x"}, "p", ALLOWED, ("id",)),
        path="p.iD",
        rule="unknown-property",
    )


@pytest.mark.parametrize("value", [True, False, "1", "0.5", None, [1], {"a": 1}, math.nan, math.inf])
def test_numbers_must_be_json_numbers_not_booleans_strings_or_non_finite(value):
    rule = "not-null" if value is None else "type"
    assert_rejected(
        lambda: require_number(value, "statement.result.score.raw"),
        path="statement.result.score.raw",
        rule=rule,
    )


@pytest.mark.parametrize("value", [0, -3, 2.5, 10**20])
def test_ints_and_finite_floats_are_numbers(value):
    assert require_number(value, "p") == value


@pytest.mark.parametrize("value", ["true", 1, 0, "false"])
def test_booleans_must_be_json_booleans_even_if_the_string_looks_boolean(value):
    assert_rejected(
        lambda: require_boolean(value, "statement.result.success"),
        path="statement.result.success",
        rule="type",
    )


def test_a_property_used_twice_is_named_by_its_full_path():
    text = '[{"a": 1}, {"a": {"list": [0, {"x": 1, "en-US": 2, "en-US": 3}]}}]'
    assert_rejected(
        lambda: parse_json(text, path="statements"),
        path='statements[1].a.list[1]["en-US"]',
        rule="duplicate-property",
    )


@pytest.mark.parametrize("text", ['[{"a": 1, "a": 2},', '{"a": 1, "a": 2} x'])
def test_a_property_used_twice_before_a_syntax_error_is_a_json_error(text):
    assert_rejected(lambda: parse_json(text, path="statements"), path="statements", rule="json")


def test_parse_json_rejects_a_property_used_twice():
    assert_rejected(
        lambda: parse_json('{"actor": {"mbox": "mailto:a@b.c", "mbox": "mailto:d@e.f"}}', path="body"),
        path="body.actor.mbox",
        rule="duplicate-property",
    )


@pytest.mark.parametrize("text", ["{", "", "{'a': 1}", '{"a": NaN}', '{"a": Infinity}', "[1,]", b"\xff\xfe"])
def test_parse_json_rejects_malformed_json_and_non_standard_constants(text):
    assert_rejected(lambda: parse_json(text, path="body"), path="body", rule="json")


def test_parse_json_keeps_nested_values():
    assert parse_json('{"a": [1, 2.5, null, true, {"b": "c"}]}') == {"a": [1, 2.5, None, True, {"b": "c"}]}
