"""IRIs and IRLs (Data 4.3, 2.2: "MUST reject ... IRL or IRI values without a scheme")."""

from __future__ import annotations

import pytest

from lrs.xapi.iris import is_iri, is_irl

VALID_IRLS = [
    "http://adlnet.gov/expapi/verbs/completed",
    "https://lms.example.com/courses/a?x=1&y=2#part-3",
    "http://example.com",
    "http://example.com:8080/path",
    "http://[::1]:8080/p",
    "http://user:pw@host.example.com/",
    "http://example.com/%2Fencoded",
    "http://example.com/فعل/خواندن",  # IRIs allow non-ASCII characters (Data 2.4.3.1 example)
    "http://例え.テスト/パス",
    "file:///var/data/file.txt",
    "ftp://files.example.com/x",
]
VALID_IRIS_NOT_IRLS = [
    "urn:uuid:fd41c918-b88b-4b20-a0a5-a4c32391aaa0",
    "mailto:learner@example.com",
    "tag:example.com,2024:verbs/x",
    "urn:isbn:0451450523",
    "foo:bar",
]
INVALID = [
    "ab=c://should.fail.com",  # the ADL conformance suite's invalid IRI
    "should fail",
    "example.com/path",  # no scheme
    "/relative/path",
    "#fragment",
    "//example.com/x",
    "",
    "http://",
    "http:///no-host",
    "http://exa mple.com",
    "http://example.com/a b",
    "http://example.com/\ttab",
    "http://example.com/<tag>",
    'http://example.com/"quoted"',
    "http://example.com/{x}",
    "http://example.com/%zz",
    "http://example.com/%4",
    "http://a#b#c",
    "http://x::a",
    "http://example.com:port/",
    "http://a@b@c/",
    "foo:",
    "1http://example.com",
    "C:\\Windows\\file",
    "http://example.com/\x7f",
]


@pytest.mark.parametrize("value", VALID_IRLS + VALID_IRIS_NOT_IRLS)
def test_absolute_iris_with_a_scheme_are_iris(value):
    assert is_iri(value)


@pytest.mark.parametrize("value", INVALID)
def test_values_without_a_scheme_or_with_forbidden_characters_are_not_iris(value):
    assert not is_iri(value)
    assert not is_irl(value)


@pytest.mark.parametrize("value", VALID_IRLS)
def test_iris_with_an_authority_are_irls(value):
    assert is_irl(value)


@pytest.mark.parametrize("value", VALID_IRIS_NOT_IRLS)
def test_urns_and_mailto_are_iris_but_not_irls(value):
    assert not is_irl(value)


@pytest.mark.parametrize(
    "value", [None, 123, ["http://example.com"], {"id": "http://example.com"}, b"http://x"]
)
def test_non_strings_are_neither_iris_nor_irls(value):
    assert not is_iri(value)
    assert not is_irl(value)


def test_a_remembered_iri_is_still_checked_for_being_an_irl():
    assert is_iri("urn:example:remembered")
    assert not is_irl("urn:example:remembered")
    assert is_irl("https://remembered.example.com/")
    assert is_iri("https://remembered.example.com/")
