"""Language maps and RFC 5646 language tags (Data 4.2; 2.2: token lengths MUST be validated)."""

from __future__ import annotations

import pytest

from lrs.xapi.language_maps import is_language_tag, validate_language_map, validate_language_tag
from tests.lrs.xapi.examples import assert_rejected

VALID_TAGS = [
    "en",
    "en-US",
    "EN-us",  # tags are case-insensitive
    "tlh",  # the conformance suite's context language
    "es-419",
    "zh-Hant-TW",
    "sr-Latn-RS",
    "de-CH-1901",
    "sl-rozaj-biske",
    "en-US-x-twain",
    "zh-yue-HK",  # extlang
    "x-whatever",
    "i-klingon",
    "sgn-BE-FR",
    "en-GB-oed",
    "de-DE-u-co-phonebk",
    "fil",
]
INVALID_TAGS = [
    "a12345678",  # conformance suite: too long
    "a12345",  # conformance suite: digits in the primary subtag
    "en_US",
    "",
    "en-",
    "-en",
    "en--US",
    "e",
    "123",
    "en-US-",
    "english-united-states-of-america",
    "en US",
    "x",
    "en-x",
    "en-a",
]


@pytest.mark.parametrize("tag", VALID_TAGS)
def test_well_formed_rfc5646_tags_are_accepted(tag):
    assert is_language_tag(tag)
    assert validate_language_tag(tag, path="statement.context.language") == tag


@pytest.mark.parametrize("tag", INVALID_TAGS)
def test_malformed_tags_are_rejected_with_rule_language_tag(tag):
    assert not is_language_tag(tag)
    assert_rejected(
        lambda: validate_language_tag(tag, path="statement.context.language"),
        path="statement.context.language",
        rule="language-tag",
    )


def test_a_language_map_with_valid_tags_and_string_values_is_accepted():
    language_map = {"en-US": "completed", "de": "abgeschlossen", "zh-Hans": "完成", "fr": ""}
    assert validate_language_map(language_map, path="statement.verb.display") is language_map


def test_an_empty_language_map_is_accepted():
    validate_language_map({}, path="statement.verb.display")


def test_an_invalid_key_is_rejected_at_the_key_path():
    assert_rejected(
        lambda: validate_language_map(
            {"en-US": "attended", "a12345": "should error"}, path="statement.verb.display"
        ),
        path='statement.verb.display["a12345"]',
        rule="language-map",
    )


@pytest.mark.parametrize("value", [12345, ["attended"], {"text": "attended"}, True])
def test_a_non_string_value_is_rejected(value):
    assert_rejected(
        lambda: validate_language_map({"en-US": value}, path="statement.object.definition.name"),
        path='statement.object.definition.name["en-US"]',
        rule="language-map",
    )


def test_a_null_value_is_rejected_as_not_null():
    assert_rejected(
        lambda: validate_language_map({"en-US": None}, path="statement.verb.display"),
        path='statement.verb.display["en-US"]',
        rule="not-null",
    )


@pytest.mark.parametrize("value", ["a12345 attended", 12345, ["en-US"], None])
def test_a_language_map_must_be_an_object(value):
    assert_rejected(
        lambda: validate_language_map(value, path="statement.verb.display"),
        path="statement.verb.display",
        rule="not-null" if value is None else "type",
    )
