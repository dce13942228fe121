"""Attachment objects (Data 2.4.11)."""

from __future__ import annotations

import pytest

from lrs.xapi.attachments import SIGNATURE_USAGE_TYPE, validate_attachment, validate_attachments
from tests.lrs.xapi.examples import SHA2, assert_rejected


def attachment(**changes) -> dict:
    base = {
        "usageType": "http://example.com/attachment-usage/test",
        "display": {"en-US": "A test attachment"},
        "description": {"en-US": "A test attachment (description)"},
        "contentType": "text/plain; charset=ascii",
        "length": 27,
        "sha2": SHA2,
        "fileUrl": "http://over.there.com/file.txt",
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not ...}


def test_a_full_attachment_is_accepted():
    validate_attachments([attachment()], path="statement.attachments")


def test_an_attachment_without_file_url_or_description_is_accepted():
    validate_attachment(attachment(fileUrl=..., description=...), path="statement.attachments[0]")


def test_a_signature_attachment_is_accepted():
    validate_attachment(
        attachment(usageType=SIGNATURE_USAGE_TYPE, contentType="application/octet-stream", fileUrl=...),
        path="a",
    )


@pytest.mark.parametrize("sha2", ["a" * 56, "A" * 64, "0" * 96, "f" * 128])
def test_sha2_may_be_any_sha2_length_in_either_case(sha2):
    validate_attachment(attachment(sha2=sha2), path="a")


def test_an_empty_attachment_list_is_accepted():
    validate_attachments([], path="statement.attachments")


@pytest.mark.parametrize("missing", ["usageType", "display", "contentType", "length", "sha2"])
def test_required_properties_are_enforced(missing):
    assert_rejected(
        lambda: validate_attachments(
            [attachment(), attachment(**{missing: ...})], path="statement.attachments"
        ),
        path=f"statement.attachments[1].{missing}",
        rule="required",
    )


def test_usage_type_must_be_an_iri():
    assert_rejected(
        lambda: validate_attachment(attachment(usageType="should fail"), path="a"),
        path="a.usageType",
        rule="iri",
    )


@pytest.mark.parametrize("file_url", ["should fail", "urn:file:1", "file.txt"])
def test_file_url_must_be_an_irl(file_url):
    assert_rejected(
        lambda: validate_attachment(attachment(fileUrl=file_url), path="a"), path="a.fileUrl", rule="irl"
    )


@pytest.mark.parametrize("content_type", ["text", "should fail", "text/", "/plain", "text plain"])
def test_content_type_must_be_an_internet_media_type(content_type):
    assert_rejected(
        lambda: validate_attachment(attachment(contentType=content_type), path="a"),
        path="a.contentType",
        rule="content-type",
    )


@pytest.mark.parametrize("name", ["contentType", "sha2", "usageType", "fileUrl"])
def test_string_properties_must_be_strings(name):
    assert_rejected(
        lambda: validate_attachment(attachment(**{name: 12345}), path="a"), path=f"a.{name}", rule="type"
    )


@pytest.mark.parametrize("length", ["27", 27.5, 27.0, True, {"n": 27}])
def test_length_must_be_an_integer(length):
    assert_rejected(
        lambda: validate_attachment(attachment(length=length), path="a"), path="a.length", rule="type"
    )


def test_length_must_not_be_negative():
    assert_rejected(
        lambda: validate_attachment(attachment(length=-1), path="a"), path="a.length", rule="range"
    )


@pytest.mark.parametrize("sha2", ["abc", "g" * 64, "a" * 40, "a" * 65, ""])
def test_sha2_must_be_a_hex_sha2_digest(sha2):
    assert_rejected(lambda: validate_attachment(attachment(sha2=sha2), path="a"), path="a.sha2", rule="sha2")


@pytest.mark.parametrize("name", ["display", "description"])
def test_display_and_description_must_be_language_maps(name):
    assert_rejected(
        lambda: validate_attachment(attachment(**{name: {"a12345": "x"}}), path="a"),
        path=f'a.{name}["a12345"]',
        rule="language-map",
    )
    assert_rejected(
        lambda: validate_attachment(attachment(**{name: "A test"}), path="a"), path=f"a.{name}", rule="type"
    )


def test_attachment_rejects_unknown_properties():
    assert_rejected(
        lambda: validate_attachment(attachment(fileURL="http://x.example.com/f"), path="a"),
        path="a.fileURL",
        rule="unknown-property",
    )


@pytest.mark.parametrize("value", [attachment(), "should fail", 12345])
def test_attachments_must_be_an_array(value):
    assert_rejected(
        lambda: validate_attachments(value, path="statement.attachments"),
        path="statement.attachments",
        rule="type",
    )
