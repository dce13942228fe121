"""Verbs (Data 2.4.3)."""

from __future__ import annotations

import pytest

from lrs.xapi.verbs import VOIDED, validate_verb
from tests.lrs.xapi.examples import assert_rejected


def test_a_verb_with_id_and_display_is_accepted():
    validate_verb(
        {
            "id": "http://example.com/xapi/verbs#defenestrated",
            "display": {"en-US": "defenestrated", "es": "defenestrado"},
        },
        path="statement.verb",
    )


def test_display_is_optional():
    validate_verb({"id": VOIDED}, path="statement.verb")


def test_an_iri_with_non_ascii_characters_is_a_valid_verb_id():
    validate_verb({"id": "http://example.com/فعل/خواندن"}, path="statement.verb")


def test_id_is_required():
    assert_rejected(
        lambda: validate_verb({"display": {"en-US": "did"}}, path="statement.verb"),
        path="statement.verb.id",
        rule="required",
    )


@pytest.mark.parametrize("verb_id", ["ab=c://should.fail.com", "completed", "", "/verbs/completed"])
def test_id_must_be_an_absolute_iri(verb_id):
    assert_rejected(
        lambda: validate_verb({"id": verb_id}, path="statements[0].verb"),
        path="statements[0].verb.id",
        rule="iri",
    )


@pytest.mark.parametrize("verb_id", [123, {"id": "http://x.example"}])
def test_id_must_be_a_string(verb_id):
    assert_rejected(
        lambda: validate_verb({"id": verb_id}, path="statement.verb"), path="statement.verb.id", rule="type"
    )


@pytest.mark.parametrize("display", [12345, "a12345 attended"])
def test_display_must_be_a_language_map(display):
    assert_rejected(
        lambda: validate_verb({"id": VOIDED, "display": display}, path="statement.verb"),
        path="statement.verb.display",
        rule="type",
    )


def test_display_keys_must_be_language_tags():
    assert_rejected(
        lambda: validate_verb({"id": VOIDED, "display": {"a12345": "attended"}}, path="statement.verb"),
        path='statement.verb.display["a12345"]',
        rule="language-map",
    )


def test_verb_rejects_unknown_properties_and_null_display():
    assert_rejected(
        lambda: validate_verb({"id": VOIDED, "name": {"en": "x"}}, path="statement.verb"),
        path="statement.verb.name",
        rule="unknown-property",
    )
    assert_rejected(
        lambda: validate_verb({"id": VOIDED, "display": None}, path="statement.verb"),
        path="statement.verb.display",
        rule="not-null",
    )


@pytest.mark.parametrize("verb", ["http://adlnet.gov/expapi/verbs/completed", ["x"], None])
def test_verb_must_be_an_object(verb):
    assert_rejected(
        lambda: validate_verb(verb, path="statement.verb"),
        path="statement.verb",
        rule="not-null" if verb is None else "type",
    )
