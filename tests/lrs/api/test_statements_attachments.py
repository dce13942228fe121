"""Statements with attachments: multipart/mixed in and out (Data 2.4.11, Communication 1.5.2)."""

from __future__ import annotations

import hashlib
import json

import pytest

from lrs.attachment_store import AttachmentContent
from lrs.statements.models import Statement
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db

BOUNDARY = "-------314159265358979323846"
USAGE = "http://example.com/attachment-usage/certificate"


def attachment_meta(data: bytes, content_type: str = "application/pdf") -> dict:
    return {
        "usageType": USAGE,
        "display": {"en-US": "Certificate"},
        "contentType": content_type,
        "length": len(data),
        "sha2": hashlib.sha256(data).hexdigest(),
    }


def multipart(statements, parts: list[tuple[bytes, str]]) -> bytes:
    lines = [f"--{BOUNDARY}", "Content-Type: application/json", "", json.dumps(statements)]
    body = "\r\n".join(lines).encode()
    for data, content_type in parts:
        head = (
            f"\r\n--{BOUNDARY}\r\nContent-Type: {content_type}\r\nContent-Transfer-Encoding: binary\r\n"
            f"X-Experience-API-Hash: {hashlib.sha256(data).hexdigest()}\r\n\r\n"
        )
        body += head.encode() + data
    return body + f"\r\n--{BOUNDARY}--".encode()


def post_multipart(xapi, body: bytes):
    return xapi.client.post(
        "/xapi/statements", body, content_type=f"multipart/mixed; boundary={BOUNDARY}", headers=xapi.headers
    )


def test_multipart_statement_is_stored_and_served_back_with_its_attachment(xapi):
    pdf = b"%PDF-1.4 certificate \x00\x01\x02 bytes"
    statement = make_statement(attachments=[attachment_meta(pdf)])
    response = post_multipart(xapi, multipart([statement], [(pdf, "application/pdf")]))
    assert response.status_code == 200, response.content
    [statement_id] = response.json()

    plain = xapi.get_statements(statementId=statement_id)
    assert plain["Content-Type"].startswith("application/json")

    with_parts = xapi.get_statements(statementId=statement_id, attachments="true")
    content_type = with_parts["Content-Type"]
    assert content_type.startswith("multipart/mixed; boundary=")
    assert pdf in with_parts.content
    assert with_parts.content.count(hashlib.sha256(pdf).hexdigest().encode()) == 2

    listing = xapi.get_statements(attachments="true")
    assert listing["Content-Type"].startswith("multipart/mixed")
    assert pdf in listing.content


def test_same_attachment_in_two_statements_is_stored_once(xapi):
    pdf = b"shared certificate"
    for _ in range(2):
        statement = make_statement(attachments=[attachment_meta(pdf)])
        assert post_multipart(xapi, multipart([statement], [(pdf, "application/pdf")])).status_code == 200
    assert AttachmentContent.objects.count() == 1


def test_missing_part_is_400_and_nothing_is_stored(xapi):
    statement = make_statement(attachments=[attachment_meta(b"never sent")])
    response = post_multipart(xapi, multipart([statement], []))
    assert response.status_code == 400
    assert response.json()["path"] == "statements[0].attachments[0].sha2"  # an array of one
    assert Statement.objects.count() == 0


def test_part_matching_no_attachment_is_400(xapi):
    response = post_multipart(xapi, multipart([make_statement()], [(b"stray", "text/plain")]))
    assert response.status_code == 400
    assert response.json()["rule"] == "attachment-unexpected-part"


def test_file_url_attachment_needs_no_part(xapi):
    meta = attachment_meta(b"remote") | {"fileUrl": "https://files.example.com/cert.pdf"}
    response = xapi.post_statements(make_statement(attachments=[meta]))
    assert response.status_code == 200


def test_multipart_form_data_is_rejected(xapi):
    response = xapi.client.post(
        "/xapi/statements",
        multipart([make_statement()], []),
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        headers=xapi.headers,
    )
    assert response.status_code == 400


def test_attachment_over_the_size_limit_is_413(xapi, settings):
    settings.LRS_MAX_ATTACHMENT_BYTES = 10
    data = b"x" * 11
    statement = make_statement(attachments=[attachment_meta(data)])
    response = post_multipart(xapi, multipart([statement], [(data, "application/pdf")]))
    assert response.status_code == 413
    assert Statement.objects.count() == 0


def test_a_substatements_attachment_sent_as_a_part_is_served_back_with_it(xapi):
    # The request's parts may carry the attachments of a SubStatement (Communication 1.5.2 matches
    # them like the statement's own); attachments=true serves them back with the statement.
    own, inner = b"the statement's own certificate", b"the planned course's syllabus"
    statement = make_statement(attachments=[attachment_meta(own)])
    statement["object"] = {
        "objectType": "SubStatement",
        "actor": {"mbox": "mailto:planner@example.com"},
        "verb": {"id": "http://example.com/verbs/planned"},
        "object": {"id": "http://example.com/courses/next"},
        "attachments": [attachment_meta(inner)],
    }
    body = multipart([statement], [(own, "application/pdf"), (inner, "application/pdf")])
    response = post_multipart(xapi, body)
    assert response.status_code == 200, response.content
    [statement_id] = response.json()
    for served in (
        xapi.get_statements(statementId=statement_id, attachments="true"),
        xapi.get_statements(attachments="true"),
    ):
        assert served["Content-Type"].startswith("multipart/mixed")
        assert own in served.content and inner in served.content


@pytest.mark.parametrize("charset", ["utf-16", "iso-8859-1", "rot13"])
def test_a_statement_part_declaring_another_charset_than_utf_8_is_400_naming_it(xapi, charset):
    pdf = b"%PDF-1.4 certificate"
    body = multipart(make_statement(attachments=[attachment_meta(pdf)]), [(pdf, "application/pdf")])
    body = body.replace(
        b"Content-Type: application/json", f"Content-Type: application/json; charset={charset}".encode(), 1
    )
    response = post_multipart(xapi, body)
    assert response.status_code == 400, response.content
    error = response.json()
    assert (error["path"], error["rule"]) == ("multipart[0].Content-Type", "charset")
    assert f"charset={charset}" in error["message"]
    assert not Statement.objects.exists()


@pytest.mark.parametrize("charset", ["utf-16", "iso-8859-1"])
def test_a_json_statement_body_declaring_another_charset_than_utf_8_is_400_naming_it(xapi, charset):
    response = xapi.client.generic(  # post() would re-encode the body in that charset
        "POST",
        "/xapi/statements",
        json.dumps(make_statement()).encode(),
        content_type=f"application/json; charset={charset}",
        headers=xapi.headers,
    )
    assert response.status_code == 400, response.content
    error = response.json()
    assert (error["path"], error["rule"]) == ("Content-Type", "charset")
    assert f"charset={charset}" in error["message"]
    assert not Statement.objects.exists()


def test_a_json_statement_body_declaring_utf_8_is_stored(xapi):
    response = xapi.client.post(
        "/xapi/statements",
        json.dumps(make_statement()),
        content_type="application/json; charset=UTF-8",
        headers=xapi.headers,
    )
    assert response.status_code == 200, response.content
