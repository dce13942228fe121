"""multipart/mixed statement requests and responses (Communication 1.5.2, Data 2.4.11).

The request bodies reproduce what the ADL conformance suite sends
(H.Communication1.5-ContentTypes.js, helper.js signStatement) and the response
checks reproduce how it reads ours (multipartParser.js, 2.1-StatementResource.js).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from lrs.xapi.errors import XAPIValidationError
from lrs.xapi.multipart import (
    AttachmentPart,
    build_multipart_response,
    match_attachments,
    parse_statement_request,
)
from tests.lrs.xapi.examples import cmi5_completed, planned_substatement

SUITE_BOUNDARY = "-------314159265358979323846"
SUITE_HEADER = f"multipart/mixed; boundary={SUITE_BOUNDARY}"
TEXT1 = b"here is a simple attachment"  # the suite's simple_text1.txt (27 octets)
TEXT2 = b"here is another simple attachment"
TEXT3 = b"here is a third attachment"
CRLF = "\r\n"


def rejects(call: Callable[[], object], *, rule: str, path: str | None = None) -> XAPIValidationError:
    """``call`` raises XAPIValidationError (400) with this rule (and path, when given)."""
    with pytest.raises(XAPIValidationError) as caught:
        call()
    error = caught.value
    assert error.status == 400
    assert error.rule == rule, error.describe()
    if path is not None:
        assert error.path == path, error.describe()
    return error


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def attachment(data: bytes, *, content_type: str = "text/plain", **extra: Any) -> dict[str, Any]:
    return {
        "usageType": "http://example.com/attachment-usage/test",
        "display": {"en-US": "A test attachment"},
        "contentType": content_type,
        "length": len(data),
        "sha2": sha256(data),
        **extra,
    }


def statement_with(*attachments: dict[str, Any]) -> dict[str, Any]:
    statement = cmi5_completed()
    statement["attachments"] = list(attachments)
    return statement


def suite_body(statement: object, *parts: tuple[str, bytes], boundary: str = SUITE_BOUNDARY) -> bytes:
    """The body as ContentTypes.js builds it: 'Content-Type: x', hash header, trailing CRLF after close."""
    dashes = "--" + boundary
    body = (
        dashes + CRLF + "Content-Type: application/json" + CRLF + CRLF + json.dumps(statement) + CRLF
    ).encode()
    for headers, data in parts:
        body += (dashes + CRLF + headers + CRLF + CRLF).encode() + data + CRLF.encode()
    return body + (dashes + "--" + CRLF).encode()


def text_part(data: bytes, sha2: str | None = None) -> tuple[str, bytes]:
    headers = f"Content-Type: text/plain{CRLF}Content-Transfer-Encoding: binary{CRLF}"
    return headers + f"X-Experience-API-Hash: {sha256(data) if sha2 is None else sha2}", data


# --- parse_statement_request: accepted forms -------------------------------------------------


def test_suite_request_with_two_text_attachments() -> None:
    statement = statement_with(attachment(TEXT1), attachment(TEXT2))
    parsed, parts = parse_statement_request(
        suite_body(statement, text_part(TEXT1), text_part(TEXT2)), SUITE_HEADER
    )
    assert parsed == statement
    assert parts == [
        AttachmentPart(sha2=sha256(TEXT1), content_type="text/plain", data=TEXT1),
        AttachmentPart(sha2=sha256(TEXT2), content_type="text/plain", data=TEXT2),
    ]


def test_signstatement_layout_leading_crlf_no_space_after_colon_no_final_crlf() -> None:
    """helper.js:843: CRLF preamble, 'Content-Type:application/json', body ends with '--boundary--'."""
    boundary = "-------------" + "1234567890"
    signature = b"eyJhbGciOiJSUzI1NiJ9.e30.c2ln"
    statement = statement_with(attachment(signature, content_type="application/octet-stream"))
    body = (
        f"{CRLF}--{boundary}{CRLF}Content-Type:application/json{CRLF}{CRLF}".encode()
        + json.dumps(statement).encode()
        + f"{CRLF}--{boundary}{CRLF}Content-Type:application/octet-stream{CRLF}"
        f"Content-Transfer-Encoding:binary{CRLF}X-Experience-API-Hash:{sha256(signature)}{CRLF}{CRLF}".encode()
        + signature
        + f"{CRLF}--{boundary}--".encode()
    )
    parsed, parts = parse_statement_request(body, f"multipart/mixed; boundary={boundary}")
    assert parsed == statement
    assert parts == [AttachmentPart(sha256(signature), "application/octet-stream", signature)]


def test_spec_example_quoted_boundary_with_special_characters() -> None:
    """Communication 1.5.2's example: boundary="abcABC0123'()+_,-./:=?" and headers without spaces."""
    boundary = "abcABC0123'()+_,-./:=?"
    statement = statement_with(attachment(TEXT1, content_type="text/plain; charset=ascii"))
    body = (
        f"{CRLF}--{boundary}{CRLF}Content-Type:application/json{CRLF}{CRLF}{json.dumps(statement, indent=4)}"
        f"{CRLF}--{boundary}{CRLF}Content-Type:text/plain{CRLF}Content-Transfer-Encoding:binary{CRLF}"
        f"X-Experience-API-Hash:{sha256(TEXT1)}{CRLF}{CRLF}{TEXT1.decode()}{CRLF}--{boundary}--"
    ).encode()
    parsed, parts = parse_statement_request(body, f'multipart/mixed; boundary="{boundary}"')
    assert parsed == statement
    assert parts[0].data == TEXT1


def test_binary_data_is_kept_exactly() -> None:
    data = bytes(range(256)) + b"\r\n--" + SUITE_BOUNDARY.encode() + b"X\r\n\r\n\n\r"
    data += b"ends with a line break\r\n"
    _, parts = parse_statement_request(
        suite_body(statement_with(attachment(data)), text_part(data)), SUITE_HEADER
    )
    assert parts[0].data == data
    assert sha256(parts[0].data) == parts[0].sha2


def test_empty_attachment_data() -> None:
    _, parts = parse_statement_request(
        suite_body(statement_with(attachment(b"")), text_part(b"")), SUITE_HEADER
    )
    assert parts[0].data == b""


def test_bare_lf_line_breaks_padding_folding_and_epilogue() -> None:
    statement = statement_with(attachment(TEXT1))
    body = (
        f"preamble text\n--{SUITE_BOUNDARY}  \ncontent-type: Application/JSON; charset=UTF-8\n\n"
        f"{json.dumps(statement)}\n--{SUITE_BOUNDARY}\nCONTENT-TYPE: text/plain;\n charset=ascii\n"
        f"content-transfer-encoding: BINARY\nx-experience-api-hash: {sha256(TEXT1).upper()}\n\n"
        f"{TEXT1.decode()}\n--{SUITE_BOUNDARY}-- \nepilogue --{SUITE_BOUNDARY}\n"
    ).encode()
    parsed, parts = parse_statement_request(body, f"Multipart/Mixed; BOUNDARY={SUITE_BOUNDARY}")
    assert parsed == statement
    assert parts == [AttachmentPart(sha256(TEXT1), "text/plain; charset=ascii", TEXT1)]


def test_absent_content_transfer_encoding_and_content_type_are_tolerated() -> None:
    part = (f"X-Experience-API-Hash: {sha256(TEXT1)}", TEXT1)
    _, parts = parse_statement_request(suite_body(statement_with(attachment(TEXT1)), part), SUITE_HEADER)
    assert parts == [AttachmentPart(sha256(TEXT1), "", TEXT1)]


def test_only_the_statement_part_and_a_statement_array() -> None:
    """4.1.3-Content-Types.js:167-207 (2.0): multipart with only the JSON part -> 200."""
    statements = [cmi5_completed(), planned_substatement()]
    parsed, parts = parse_statement_request(suite_body(statements), SUITE_HEADER)
    assert parsed == statements
    assert parts == []


def test_boundary_text_inside_a_line_is_not_a_delimiter() -> None:
    data = f"--{SUITE_BOUNDARY}X is not a delimiter, nor is x--{SUITE_BOUNDARY}".encode()
    _, parts = parse_statement_request(
        suite_body(statement_with(attachment(data)), text_part(data)), SUITE_HEADER
    )
    assert parts[0].data == data


# --- parse_statement_request: rejections (the suite's XAPI-00130 .. 00135 and more) ------------


@pytest.mark.parametrize("header", ["multipart/mixed;", "multipart/mixed", 'multipart/mixed; boundary=""'])
def test_missing_boundary_parameter(header: str) -> None:
    body = suite_body(statement_with())
    rejects(lambda: parse_statement_request(body, header), path="Content-Type", rule="multipart-boundary")


@pytest.mark.parametrize("header", [f"multipart/form-data; boundary={SUITE_BOUNDARY}", "application/json"])
def test_other_content_types(header: str) -> None:
    body = suite_body(statement_with())
    rejects(lambda: parse_statement_request(body, header), path="Content-Type", rule="content-type")


def test_body_without_the_boundary() -> None:
    body = json.dumps(statement_with()).encode()
    rejects(lambda: parse_statement_request(body, SUITE_HEADER), path="body", rule="multipart-boundary")


def test_no_delimiter_before_the_statements_part() -> None:
    """XAPI-00130: the JSON sits in the preamble, so the first part is the text/plain one."""
    body = suite_body(statement_with(attachment(TEXT1)), text_part(TEXT1))
    body = body[body.index(b"Content-Type") :]
    rejects(
        lambda: parse_statement_request(body, SUITE_HEADER),
        path="multipart[0].Content-Type",
        rule="multipart-first-part",
    )


def test_no_delimiter_before_the_attachment_part() -> None:
    """XAPI-00131: the attachment headers run on after the JSON, which is then invalid."""
    body = suite_body(statement_with(attachment(TEXT1)), text_part(TEXT1))
    second = body.index(f"--{SUITE_BOUNDARY}".encode(), 10)
    body = body[:second] + body[second + len(SUITE_BOUNDARY) + 4 :]
    rejects(lambda: parse_statement_request(body, SUITE_HEADER), path="statement", rule="json")


def test_first_part_not_json() -> None:
    """XAPI-00134."""
    body = suite_body(statement_with(attachment(TEXT1)), text_part(TEXT1))
    body = body.replace(b"application/json", b"text/plain", 1)
    rejects(
        lambda: parse_statement_request(body, SUITE_HEADER),
        path="multipart[0].Content-Type",
        rule="multipart-first-part",
    )


def test_first_part_without_content_type() -> None:
    body = f"--{SUITE_BOUNDARY}{CRLF}{CRLF}{{}}{CRLF}--{SUITE_BOUNDARY}--".encode()
    rejects(lambda: parse_statement_request(body, SUITE_HEADER), rule="multipart-first-part")


def test_statements_split_over_two_json_parts() -> None:
    """XAPI-00133: two application/json parts (neither with a hash), then the text part."""
    statement = statement_with(attachment(TEXT1))
    json_part = ("Content-Type: application/json", json.dumps(statement).encode())
    body = suite_body(statement, json_part, text_part(TEXT1))
    rejects(
        lambda: parse_statement_request(body, SUITE_HEADER),
        path="multipart[1].X-Experience-API-Hash",
        rule="multipart-statements",
    )


def test_attachment_part_without_hash_header() -> None:
    """XAPI-00132, first case."""
    part = (f"Content-Type: text/plain{CRLF}Content-Transfer-Encoding: binary", TEXT1)
    body = suite_body(statement_with(attachment(TEXT1)), part)
    rejects(
        lambda: parse_statement_request(body, SUITE_HEADER),
        path="multipart[1].X-Experience-API-Hash",
        rule="attachment-hash-header",
    )


def test_part_without_any_headers() -> None:
    body = suite_body(statement_with(), ("", TEXT1)).replace(b"\r\n\r\n\r\n", b"\r\n\r\n")
    rejects(lambda: parse_statement_request(body, SUITE_HEADER), rule="attachment-hash-header")


@pytest.mark.parametrize("value", ["", "not-hex", "ab" * 20, "g" * 64, sha256(TEXT1) + "0"])
def test_hash_header_not_a_sha2_digest(value: str) -> None:
    body = suite_body(statement_with(attachment(TEXT1)), text_part(TEXT1, sha2=value))
    rejects(lambda: parse_statement_request(body, SUITE_HEADER), rule="attachment-hash-header")


@pytest.mark.parametrize("encoding", ["base64", "quoted-printable", "8bit"])
def test_content_transfer_encoding_other_than_binary(encoding: str) -> None:
    """XAPI-00135 sends base64."""
    headers, data = text_part(TEXT1)
    part = (headers.replace("binary", encoding), data)
    rejects(
        lambda: parse_statement_request(suite_body(statement_with(attachment(TEXT1)), part), SUITE_HEADER),
        path="multipart[1].Content-Transfer-Encoding",
        rule="content-transfer-encoding",
    )


def test_missing_close_delimiter() -> None:
    body = suite_body(statement_with(attachment(TEXT1)), text_part(TEXT1))
    body = body[: body.rindex(b"--" + SUITE_BOUNDARY.encode())]
    rejects(lambda: parse_statement_request(body, SUITE_HEADER), path="body", rule="multipart-close")


def test_only_a_close_delimiter() -> None:
    body = f"--{SUITE_BOUNDARY}--{CRLF}".encode()
    rejects(lambda: parse_statement_request(body, SUITE_HEADER), path="body", rule="multipart-first-part")


@pytest.mark.parametrize(
    ("text", "rule"), [("{not json", "json"), ('{"id": "a", "id": "b"}', "duplicate-property")]
)
def test_statement_part_json_is_parsed_strictly(text: str, rule: str) -> None:
    body = (
        f"--{SUITE_BOUNDARY}{CRLF}Content-Type: application/json{CRLF}{CRLF}{text}{CRLF}--{SUITE_BOUNDARY}--"
    )
    rejects(lambda: parse_statement_request(body.encode(), SUITE_HEADER), rule=rule)


def test_deeply_nested_statement_json_is_a_400_naming_the_depth_limit() -> None:
    text = "[" * 100_000 + "]" * 100_000
    body = (
        f"--{SUITE_BOUNDARY}{CRLF}Content-Type: application/json{CRLF}{CRLF}{text}{CRLF}--{SUITE_BOUNDARY}--"
    )
    error = rejects(
        lambda: parse_statement_request(body.encode(), SUITE_HEADER), path="statements", rule="json-depth"
    )
    assert "LRS_MAX_JSON_DEPTH" in error.message


@pytest.mark.parametrize(
    "header", ["multipart/mixed; boundary=\u00e4bc", "multipart/mixed; boundary*=utf-8''%C3%A4bc"]
)
def test_non_ascii_boundary(header: str) -> None:
    rejects(lambda: parse_statement_request(b"", header), path="Content-Type", rule="multipart-boundary")


@pytest.mark.parametrize(
    "headers",
    ["Content-Type text/plain", "Content-Type: text/plain\r\nContent-Type: text/html", ": empty name"],
)
def test_malformed_or_repeated_part_headers(headers: str) -> None:
    body = suite_body(statement_with(attachment(TEXT1)), (headers, TEXT1))
    rejects(lambda: parse_statement_request(body, SUITE_HEADER), path="multipart[1]", rule="multipart-header")


# --- match_attachments ----------------------------------------------------------------------


def parts_of(*data: bytes) -> list[AttachmentPart]:
    return [AttachmentPart(sha256(item), "text/plain", item) for item in data]


def test_every_part_matched() -> None:
    statement = statement_with(attachment(TEXT1), attachment(TEXT2))
    matched = match_attachments([statement], parts_of(TEXT1, TEXT2), path_prefix="statement")
    assert matched == {sha256(TEXT1): parts_of(TEXT1)[0], sha256(TEXT2): parts_of(TEXT2)[0]}


def test_excess_part() -> None:
    """XAPI-00128: a third part whose hash no attachment names."""
    statement = statement_with(attachment(TEXT1), attachment(TEXT2))
    rejects(
        lambda: match_attachments([statement], parts_of(TEXT1, TEXT2, TEXT3), path_prefix="statement"),
        path="multipart[3].X-Experience-API-Hash",
        rule="attachment-unexpected-part",
    )


def test_missing_part_single_statement_and_batch_paths() -> None:
    """XAPI-00129: two attachments, one part."""
    statement = statement_with(attachment(TEXT1), attachment(TEXT2))
    rejects(
        lambda: match_attachments([statement], parts_of(TEXT1), path_prefix="statement"),
        path="statement.attachments[1].sha2",
        rule="attachment-missing-part",
    )
    rejects(
        lambda: match_attachments([statement_with(), statement], parts_of(TEXT1), path_prefix="statements"),
        path="statements[1].attachments[1].sha2",
        rule="attachment-missing-part",
    )


def test_application_json_request_needs_file_urls() -> None:
    with_url = statement_with(attachment(TEXT1, fileUrl="http://over.there.com/file.txt"))
    assert match_attachments([with_url], [], path_prefix="statement") == {}
    rejects(
        lambda: match_attachments(
            [with_url, statement_with(attachment(TEXT2))], [], path_prefix="statements"
        ),
        path="statements[1].attachments[0].sha2",
        rule="attachment-missing-part",
    )


def test_data_sent_for_an_attachment_with_file_url_is_kept() -> None:
    """2.1-StatementResource.js:2467-2600 posts data for a fileUrl attachment and GETs it back."""
    statement = statement_with(attachment(TEXT1, fileUrl="http://over.there.com/file.txt"))
    assert match_attachments([statement], parts_of(TEXT1), path_prefix="statement") == {
        sha256(TEXT1): parts_of(TEXT1)[0]
    }


def test_part_data_must_hash_to_its_header() -> None:
    """XAPI-00132, second case: a header hash that is not the hash of the data sent."""
    forged = AttachmentPart(
        "b018994f8bbe0f08992a65c48c8c8c56f09e9baceaa6227ed85c90ae52b73c89", "text/plain", TEXT1
    )
    statement = statement_with(attachment(TEXT1))
    rejects(
        lambda: match_attachments([statement], [forged], path_prefix="statement"),
        path="multipart[1].X-Experience-API-Hash",
        rule="attachment-hash-mismatch",
    )
    statement["attachments"][0]["sha2"] = forged.sha2  # even when the statement names that hash
    rejects(
        lambda: match_attachments([statement], [forged], path_prefix="statement"),
        rule="attachment-hash-mismatch",
    )


def test_suite_jpeg_test_hex_text_with_binary_length() -> None:
    """ContentTypes.js sends the JPEG as hex text, hashed as sent, with the file's binary length."""
    picture = bytes(range(200))
    sent = picture.hex().encode()
    statement = statement_with(attachment(sent, content_type="image/jpeg"))
    statement["attachments"][0]["length"] = len(picture)  # not the length of what is sent
    part = AttachmentPart(sha256(sent), "image/jpeg", sent)
    assert match_attachments([statement], [part], path_prefix="statement") == {sha256(sent): part}


@pytest.mark.parametrize("algorithm", ["sha224", "sha384", "sha512"])
def test_other_sha2_lengths(algorithm: str) -> None:
    digest = hashlib.new(algorithm, TEXT1).hexdigest()
    statement = statement_with({**attachment(TEXT1), "sha2": digest.upper()})
    part = AttachmentPart(digest, "text/plain", TEXT1)
    assert match_attachments([statement], [part], path_prefix="statement") == {digest: part}


def test_one_part_serves_several_statements_and_duplicates_collapse() -> None:
    first, second = statement_with(attachment(TEXT1)), statement_with(attachment(TEXT1), attachment(TEXT2))
    parts = parts_of(TEXT1, TEXT2, TEXT1)
    assert match_attachments([first, second], parts, path_prefix="statements") == {
        sha256(TEXT1): parts[0],
        sha256(TEXT2): parts[1],
    }


def test_substatement_attachments_are_matched() -> None:
    statement = planned_substatement()
    statement["object"]["attachments"] = [attachment(TEXT1)]
    assert match_attachments([statement], parts_of(TEXT1), path_prefix="statement") == {
        sha256(TEXT1): parts_of(TEXT1)[0]
    }
    rejects(
        lambda: match_attachments([statement_with(), statement], [], path_prefix="statements"),
        path="statements[1].object.attachments[0].sha2",
        rule="attachment-missing-part",
    )


def test_part_without_content_type_takes_the_attachments() -> None:
    statement = statement_with(attachment(TEXT1, content_type="text/plain; charset=ascii"))
    matched = match_attachments(
        [statement], [AttachmentPart(sha256(TEXT1), "", TEXT1)], path_prefix="statement"
    )
    assert matched[sha256(TEXT1)].content_type == "text/plain; charset=ascii"


def test_request_round_trip_through_parse_and_match() -> None:
    statements = [statement_with(attachment(TEXT1)), statement_with(attachment(TEXT2), attachment(TEXT1))]
    parsed, parts = parse_statement_request(
        suite_body(statements, text_part(TEXT1), text_part(TEXT2)), SUITE_HEADER
    )
    assert isinstance(parsed, list)
    matched = match_attachments(parsed, parts, path_prefix="statements")
    assert {sha2: part.data for sha2, part in matched.items()} == {sha256(TEXT1): TEXT1, sha256(TEXT2): TEXT2}


# --- build_multipart_response ---------------------------------------------------------------


def suite_parse_multipart(body: str, content_type: str) -> list[dict[str, Any]]:
    """A port of the suite's multipartParser.js (getBoundary + parseMultipart)."""
    index = content_type.index("boundary=")
    end = content_type.find(";", index)
    boundary = content_type[index + len("boundary=") : end if end >= 0 else None].strip('"')
    assert body[body.index("--" + boundary) + len(boundary) + 2 :].startswith("\r\n")
    parts = []
    for content in re.split("--*" + boundary, body)[1:]:
        if content.startswith("--"):
            break
        lines = content.split("\r\n")
        assert lines[0] == ""
        headers = {}
        for line in lines[1:]:
            if not line:
                break
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        parts.append({"headers": headers, "body": content[content.index("\r\n\r\n") + 4 : len(content) - 2]})
    return parts


def test_response_content_type_is_exact_and_regex_safe() -> None:
    _, content_type = build_multipart_response("{}", [])
    assert re.fullmatch(r"multipart/mixed; boundary=[0-9a-f]{32}", content_type)
    # 2.1-StatementResource.js:2580
    boundary = content_type.split(";")[1].replace(" boundary=", "")
    assert re.escape(boundary) == boundary


def test_response_as_the_suite_reads_it() -> None:
    statement = statement_with(attachment(TEXT1), attachment(TEXT2))
    json_text = json.dumps(statement)
    body, content_type = build_multipart_response(json_text, parts_of(TEXT1, TEXT2))
    text = body.decode()
    parts = suite_parse_multipart(text, content_type)
    assert json.loads(parts[0]["body"]) == statement
    assert parts[0]["headers"] == {"content-type": "application/json"}
    assert [part["body"].encode() for part in parts[1:]] == [TEXT1, TEXT2]
    assert parts[1]["headers"] == {
        "content-type": "text/plain",
        "content-transfer-encoding": "binary",
        "x-experience-api-hash": sha256(TEXT1),
    }
    # 2.1-StatementResource.js:1403: each hash occurs exactly twice (JSON sha2 + part header).
    assert text.count(sha256(TEXT1)) == 2
    assert text.count(sha256(TEXT2)) == 2
    # 2.1-StatementResource.js:1427: the JSON between the first '{' and last '}' of the first part.
    first = text.split(content_type.split("=", 1)[1])[1]
    assert json.loads(first[first.index("{") : first.rindex("}") + 1]) == statement


def test_response_layout_and_binary_exactness() -> None:
    data = b"\r\n\x00\xff binary \r\n"
    body, content_type = build_multipart_response(
        '{"a":1}', [AttachmentPart(sha256(data), "image/png", data)]
    )
    boundary = content_type.split("=", 1)[1].encode()
    assert body == (
        b"--" + boundary + b"\r\nContent-Type: application/json\r\n\r\n" + b'{"a":1}\r\n'
        b"--" + boundary + b"\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: binary\r\n"
        b"X-Experience-API-Hash: " + sha256(data).encode() + b"\r\n\r\n" + data + b"\r\n"
        b"--" + boundary + b"--\r\n"
    )
    parsed, parts = parse_statement_request(body, content_type)
    assert parsed == {"a": 1}
    assert parts == [AttachmentPart(sha256(data), "image/png", data)]


def test_response_sends_each_hash_once_and_sanitises_content_types() -> None:
    parts = [
        AttachmentPart(sha256(TEXT1), "", TEXT1),
        AttachmentPart(sha256(TEXT1).upper(), "text/plain", TEXT1),
        AttachmentPart(sha256(TEXT2), "text/plain\r\nX-Injected: 1", TEXT2),
    ]
    body, content_type = build_multipart_response('{"statements":[],"more":""}', parts)
    text = body.decode()
    assert text.count(sha256(TEXT1)) == 1
    assert "X-Injected" not in text
    read = suite_parse_multipart(text, content_type)
    assert [part["headers"]["content-type"] for part in read[1:]] == ["application/octet-stream"] * 2


def test_response_rejects_a_non_digest() -> None:
    with pytest.raises(ValueError, match="SHA-2"):
        build_multipart_response("{}", [AttachmentPart("abc", "text/plain", b"x")])


def _first_part_declaring(content_type: str, statement_bytes: bytes) -> bytes:
    dashes = "--" + SUITE_BOUNDARY
    head = (dashes + CRLF + f"Content-Type: {content_type}" + CRLF + CRLF).encode()
    return head + statement_bytes + (CRLF + dashes + "--" + CRLF).encode()


@pytest.mark.parametrize(
    "charset",
    ["utf-16", "UTF-16LE", "utf-32", "iso-8859-1", "windows-1252", "rot13", "base64", "nonsense", ""],
)
def test_a_statement_part_declaring_a_charset_other_than_utf_8_is_rejected_naming_it(charset: str) -> None:
    """Communication 1.4 ("All strings MUST be encoded and interpreted as UTF-8") and RFC 8259 8.1:
    statements are UTF-8 JSON. A part that says otherwise is refused, not read as UTF-8 against
    what its sender said (nor, for a codec such as rot13, decoded at all)."""
    body = _first_part_declaring(
        f"application/json; charset={charset}", json.dumps(cmi5_completed()).encode()
    )
    error = rejects(
        lambda: parse_statement_request(body, SUITE_HEADER), rule="charset", path="multipart[0].Content-Type"
    )
    assert f"charset={charset}" in error.message


def test_a_statement_part_in_utf_16_without_a_charset_is_rejected_as_not_utf_8() -> None:
    """As a statements body is (``lrs.api.request.parse_json``): JSON's own UTF-16 detection
    (RFC 4627 3, dropped by RFC 8259) must not take the part."""
    body = _first_part_declaring("application/json", json.dumps(cmi5_completed()).encode("utf-16"))
    rejects(lambda: parse_statement_request(body, SUITE_HEADER), rule="utf-8", path="multipart[0]")


def test_a_statement_part_in_utf_8_with_a_byte_order_mark_is_read_as_a_body_is() -> None:
    statement = cmi5_completed()
    body = _first_part_declaring("application/json", b"\xef\xbb\xbf" + json.dumps(statement).encode())
    assert parse_statement_request(body, SUITE_HEADER)[0] == statement


def test_a_statement_part_truly_in_utf_16_is_rejected_for_its_charset() -> None:
    text = json.dumps(cmi5_completed()).encode("utf-16")
    body = _first_part_declaring("application/json; charset=utf-16", text)
    rejects(
        lambda: parse_statement_request(body, SUITE_HEADER), rule="charset", path="multipart[0].Content-Type"
    )


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=UTF-8",
        'application/json; charset="utf-8"',
        "application/json;charset=utf8",
        "application/json; charset=us-ascii",
    ],
)
def test_a_statement_part_in_utf_8_declared_as_utf_8_or_ascii_is_read(content_type: str) -> None:
    statement = cmi5_completed()
    parsed, _parts = parse_statement_request(
        _first_part_declaring(content_type, json.dumps(statement).encode()), SUITE_HEADER
    )
    assert parsed == statement


def test_a_statement_part_declared_us_ascii_holding_other_bytes_is_rejected() -> None:
    statement = {**cmi5_completed(), "result": {"response": "Grüße"}}
    body = _first_part_declaring(
        "application/json; charset=us-ascii", json.dumps(statement, ensure_ascii=False).encode()
    )
    rejects(
        lambda: parse_statement_request(body, SUITE_HEADER), rule="charset", path="multipart[0].Content-Type"
    )
