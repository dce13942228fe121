"""Statement requests and responses in ``multipart/mixed`` (statements with attachment data).

xAPI 1.0.3 Communication 1.5.2 (Multipart/Mixed):
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#152-multipartmixed
xAPI 1.0.3 Data 2.4.11 (Attachments):
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#2411-attachments
RFC 2046 5.1.1 (the multipart syntax): https://www.rfc-editor.org/rfc/rfc2046#section-5.1.1

* The body "MUST conform to the definition of multipart/mixed in RFC 2046":
  a ``boundary`` parameter, a delimiter line ``--boundary`` before every part
  and a close delimiter ``--boundary--`` (rules ``multipart-boundary``,
  ``multipart-close``). A preamble (the ADL suite sends a leading CRLF) and an
  epilogue are ignored; the delimiter line may carry trailing spaces.
* "The first part of the multipart document MUST contain the Statements
  themselves, with type application/json" (rule ``multipart-first-part``).
  Its JSON is UTF-8, as a statements body is (Communication 1.4): a ``charset``
  parameter naming anything else is refused naming it (rule ``charset``, path
  ``multipart[0].Content-Type``), bytes that are not UTF-8 too (rule ``utf-8``,
  path ``multipart[0]``); see :mod:`lrs.xapi.charsets` for why. The JSON is
  parsed strictly (rules ``json``, ``duplicate-property``).
* Every further part "MUST include an X-Experience-API-Hash parameter" (rule
  ``attachment-hash-header``) and "MUST include a Content-Transfer-Encoding
  parameter with a value of binary"; the LRS "SHOULD assume a
  Content-Transfer-Encoding of binary", so an absent header is accepted and
  any other value (``base64``) is rejected (rule ``content-transfer-encoding``).
  A second ``application/json`` part without a hash is reported as statements
  split over several parts (rule ``multipart-statements``, the ADL suite's
  XAPI-00133); an attachment whose data happens to be JSON is fine.
* Matching is by hash only: "It MUST not do so any other way". The LRS "MUST
  reject batches of Statements having Attachments that neither contain a
  fileUrl nor match a received Attachment part based on their hash" (rule
  ``attachment-missing-part``); a part no ``sha2`` names is an "excess
  multi-part section" (rule ``attachment-unexpected-part``). Each part's bytes
  must hash to its ``X-Experience-API-Hash`` (rule ``attachment-hash-mismatch``);
  the digest length chooses SHA-224/256/384/512. SubStatement attachments
  (allowed by the statement validator) are matched like the Statement's own.

Decisions:

* Part bodies are kept byte-exact: the line break before each delimiter belongs
  to the delimiter (RFC 2046), nothing else is stripped or decoded. Line breaks
  may be CRLF or bare LF; part headers may omit the space after the colon.
* ``length`` and ``contentType`` are not compared with the part: the ADL
  suite's JPEG test sends the hex text of the file with the file's binary
  length, and one part may serve several attachments (the spec: "SHOULD only
  include one copy of an Attachment's data"). The hash check covers integrity.
* Responses use a random hex boundary (regex-safe: the suite builds
  ``new RegExp('--*' + boundary)``), the exact content type
  ``multipart/mixed; boundary=<hex>``, and one part per distinct hash, so each
  hash occurs once in the part headers and otherwise only in the JSON.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from lrs.xapi.charsets import check_statements_charset, content_type_param, statements_text
from lrs.xapi.json_types import fail, parse_json
from lrs.xapi.statement import body_path

MULTIPART_MIXED = "multipart/mixed"
HASH_HEADER = "X-Experience-API-Hash"
DEFAULT_PART_CONTENT_TYPE = "application/octet-stream"

_DIGESTS = {56: "sha224", 64: "sha256", 96: "sha384", 128: "sha512"}
_HEX = re.compile(r"[0-9a-fA-F]+\Z")
_HEADER_LINE = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*:[ \t]*(.*?)[ \t]*\Z", re.DOTALL)
_LINE_BREAK = re.compile(rb"\r?\n")
_TEXT_LINE_BREAK = re.compile(r"\r?\n")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_UNIQUE_HEADERS = ("content-type", "content-transfer-encoding", "x-experience-api-hash")
_SAFE_HEADER_VALUE = re.compile(r"[\x20-\x7e]+\Z")
CRLF = b"\r\n"


@dataclass(frozen=True)
class AttachmentPart:
    """The raw data of one attachment, as received in (or sent as) a multipart part.

    ``sha2`` is the lower-case hex digest from ``X-Experience-API-Hash``;
    ``content_type`` is the part's ``Content-Type`` header as sent ("" when the
    part had none; :func:`match_attachments` fills in the attachment's
    ``contentType``); ``data`` is the exact bytes.
    """

    sha2: str
    content_type: str
    data: bytes = field(repr=False)


def media_type(value: str) -> str:
    """The lower-case ``type/subtype`` of a Content-Type value, without parameters."""
    return value.split(";", 1)[0].strip().lower()


def _boundary(content_type_header: str) -> str:
    if media_type(content_type_header) != MULTIPART_MIXED:
        fail(
            f"Content-Type must be multipart/mixed (or application/json), got {content_type_header!r}",
            "Content-Type",
            "content-type",
        )
    boundary = content_type_param(content_type_header, "boundary")
    if boundary is None or not _SAFE_HEADER_VALUE.match(boundary):
        fail(
            "multipart/mixed requires a boundary parameter of printable ASCII characters, "
            "e.g. 'multipart/mixed; boundary=abc123'",
            "Content-Type",
            "multipart-boundary",
        )
    return boundary


def _split_body(body: bytes, boundary: str) -> list[bytes]:
    """The raw parts between the delimiter lines (RFC 2046 5.1.1), preamble and epilogue dropped."""
    dash_boundary = re.escape(b"--" + boundary.encode("ascii"))
    delimiter = re.compile(rb"(?:\A|\r?\n)" + dash_boundary + rb"(--)?[ \t]*(?=\r?\n|\Z)")
    parts: list[bytes] = []
    start: int | None = None
    for match in delimiter.finditer(body):
        if start is not None:
            parts.append(body[start : match.start()])
        if match.group(1):  # the close delimiter
            if not parts:
                fail(
                    "the multipart body has no parts; the first must hold the statements",
                    "body",
                    "multipart-first-part",
                )
            return parts
        line_break = _LINE_BREAK.match(body, match.end())
        start = line_break.end() if line_break else match.end()
    if start is None:
        fail(
            f"the body contains no delimiter line '--{boundary}' (the boundary of the Content-Type header)",
            "body",
            "multipart-boundary",
        )
    fail(
        f"the multipart body does not end with the close delimiter '--{boundary}--'",
        "body",
        "multipart-close",
    )


def _part_headers(raw: bytes, path: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    lines: list[str] = []
    for line in _TEXT_LINE_BREAK.split(raw.decode("latin-1")):
        if not line:
            continue
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += " " + line.strip()  # a folded header line
        else:
            lines.append(line)
    for line in lines:
        match = _HEADER_LINE.match(line)
        if match is None:
            fail(f"malformed part header {line[:80]!r}; expected 'Name: value'", path, "multipart-header")
        name, value = match.group(1).lower(), match.group(2)
        if name in headers and name in _UNIQUE_HEADERS:
            fail(f"the part repeats the {match.group(1)} header", path, "multipart-header")
        headers.setdefault(name, value)
    return headers


def _parse_part(raw: bytes, path: str) -> tuple[dict[str, str], bytes]:
    """Headers (lower-case names) and the exact body bytes of one part."""
    line_break = _LINE_BREAK.match(raw)
    if line_break is not None:  # no headers at all
        return {}, raw[line_break.end() :]
    header_end = _HEADER_END.search(raw)
    if header_end is None:  # headers only, no body (RFC 2046: the body is optional)
        return _part_headers(raw, path), b""
    return _part_headers(raw[: header_end.start()], path), raw[header_end.end() :]


def parse_statement_request(body: bytes, content_type_header: str) -> tuple[object, list[AttachmentPart]]:
    """Parse a ``multipart/mixed`` Statement request into (statements JSON, attachment parts).

    Communication 1.5.2. The JSON is returned as parsed (a statement object or an
    array, not yet validated); the parts are in body order (part 1 is the first
    after the statements). Hashes are not verified here: :func:`match_attachments`
    does that against the statements. Raises :class:`XAPIValidationError`.
    """
    raw_parts = _split_body(body, _boundary(content_type_header))
    headers, statement_bytes = _parse_part(raw_parts[0], "multipart[0]")
    first_type = headers.get("content-type", "")
    if media_type(first_type) != "application/json":
        fail(
            "the first part must hold the statements with Content-Type: application/json, "
            f"got {first_type or 'no Content-Type'!r}",
            "multipart[0].Content-Type",
            "multipart-first-part",
        )
    what = "the statements part (multipart[0])"
    check_statements_charset(first_type, statement_bytes, path="multipart[0].Content-Type", what=what)
    text = statements_text(statement_bytes, path="multipart[0]", what=what)
    try:
        statements = parse_json(text, path=body_path(text))
    except RecursionError:
        fail("the statements JSON is nested too deeply", body_path(text), "json")
    parts: list[AttachmentPart] = []
    for index, raw in enumerate(raw_parts[1:], start=1):
        path = f"multipart[{index}]"
        headers, data = _parse_part(raw, path)
        content_type = headers.get("content-type", "")
        sha2 = headers.get("x-experience-api-hash")
        if sha2 is None:
            if media_type(content_type) == "application/json":
                fail(
                    "all statements must be in the first part; a further application/json part "
                    f"needs an {HASH_HEADER} header to be an attachment",
                    f"{path}.{HASH_HEADER}",
                    "multipart-statements",
                )
            fail(
                f"every part after the first needs an {HASH_HEADER} header",
                f"{path}.{HASH_HEADER}",
                "attachment-hash-header",
            )
        if len(sha2) not in _DIGESTS or not _HEX.match(sha2):
            fail(
                f"{HASH_HEADER} must be a hex SHA-224/256/384/512 digest, got {sha2[:80]!r}",
                f"{path}.{HASH_HEADER}",
                "attachment-hash-header",
            )
        encoding = headers.get("content-transfer-encoding")
        if encoding is not None and encoding.lower() != "binary":
            fail(
                f"attachment parts must use Content-Transfer-Encoding: binary, got {encoding[:40]!r}",
                f"{path}.Content-Transfer-Encoding",
                "content-transfer-encoding",
            )
        parts.append(AttachmentPart(sha2=sha2.lower(), content_type=content_type, data=data))
    return statements, parts


def part_hash_matches(part: AttachmentPart) -> bool:
    """True when the part's bytes hash to its ``sha2`` (the algorithm chosen by the digest length)."""
    algorithm = _DIGESTS.get(len(part.sha2))
    if algorithm is None:
        return False
    return hashlib.new(algorithm, part.data).hexdigest() == part.sha2.lower()


def _statement_attachments(statements: list[Any], path_prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, attachment) for the attachments of each statement and of its SubStatement."""
    single = path_prefix == "statement" and len(statements) == 1
    for index, statement in enumerate(statements):
        if type(statement) is not dict:
            continue
        base = path_prefix if single else f"{path_prefix}[{index}]"
        holders = [(base, statement)]
        statement_object = statement.get("object")
        if type(statement_object) is dict and statement_object.get("objectType") == "SubStatement":
            holders.append((f"{base}.object", statement_object))
        for holder_path, holder in holders:
            attachments = holder.get("attachments")
            if type(attachments) is not list:
                continue
            for position, attachment in enumerate(attachments):
                if type(attachment) is dict and type(attachment.get("sha2")) is str:
                    yield f"{holder_path}.attachments[{position}]", attachment


def match_attachments(
    statements: list[Any], parts: list[AttachmentPart], *, path_prefix: str = "statements"
) -> dict[str, AttachmentPart]:
    """Match attachment parts to the statements' attachment objects by hash; return sha2 -> part.

    Communication 1.5.2 and Data 2.4.11. ``parts`` in body order (as returned by
    :func:`parse_statement_request`; ``[]`` for an application/json request).
    Every part's data must hash to its ``X-Experience-API-Hash``. Error paths are
    ``{path_prefix}[i].attachments[j].sha2``, or ``statement.attachments[j].sha2``
    when ``path_prefix`` is ``"statement"`` and there is one statement. An
    attachment with a ``fileUrl`` needs no part, but a part sent for it is kept.
    Keys of the result are lower-case digests; a part without a Content-Type
    takes the ``contentType`` of its attachment.
    """
    by_hash: dict[str, AttachmentPart] = {}
    for index, part in enumerate(parts, start=1):
        if not part_hash_matches(part):
            fail(
                f"the part's data does not hash to its {HASH_HEADER} {part.sha2}",
                f"multipart[{index}].{HASH_HEADER}",
                "attachment-hash-mismatch",
            )
        by_hash.setdefault(part.sha2.lower(), part)
    declared: set[str] = set()
    for path, attachment in _statement_attachments(statements, path_prefix):
        sha2 = attachment["sha2"].lower()
        declared.add(sha2)
        part = by_hash.get(sha2)
        if part is None:
            if "fileUrl" not in attachment:
                fail(
                    f"no multipart part has {HASH_HEADER}: {attachment['sha2']}; an attachment without "
                    "fileUrl needs its data in the request",
                    f"{path}.sha2",
                    "attachment-missing-part",
                )
        elif not part.content_type and type(attachment.get("contentType")) is str:
            by_hash[sha2] = replace(part, content_type=attachment["contentType"])
    for index, part in enumerate(parts, start=1):
        if part.sha2.lower() not in declared:
            fail(
                f"the part's {HASH_HEADER} {part.sha2} matches no attachment sha2 of the statements",
                f"multipart[{index}].{HASH_HEADER}",
                "attachment-unexpected-part",
            )
    return by_hash


def build_multipart_response(json_text: str, parts: list[AttachmentPart]) -> tuple[bytes, str]:
    """A ``multipart/mixed`` GET Statements response: (body, Content-Type header value).

    Communication 2.1.3 ("attachments": true) and 1.5.2. The first part is the
    JSON (a Statement or a StatementResult); then one part per distinct hash with
    ``Content-Type``, ``Content-Transfer-Encoding: binary`` and
    ``X-Experience-API-Hash``. CRLF line breaks and a close delimiter.
    """
    unique: dict[str, AttachmentPart] = {}
    for part in parts:
        if len(part.sha2) not in _DIGESTS or not _HEX.match(part.sha2):
            raise ValueError(f"not a SHA-2 hex digest: {part.sha2!r}")
        unique.setdefault(part.sha2.lower(), part)
    chunks = [b"Content-Type: application/json" + CRLF + CRLF + json_text.encode("utf-8")]
    for sha2, part in unique.items():
        content_type = part.content_type if _SAFE_HEADER_VALUE.match(part.content_type) else ""
        headers = (
            f"Content-Type: {content_type or DEFAULT_PART_CONTENT_TYPE}\r\n"
            "Content-Transfer-Encoding: binary\r\n"
            f"{HASH_HEADER}: {sha2}\r\n\r\n"
        )
        chunks.append(headers.encode("ascii") + part.data)
    boundary = secrets.token_hex(16)
    while any(boundary.encode("ascii") in chunk for chunk in chunks):  # pragma: no cover - 2**-128
        boundary = secrets.token_hex(16)
    delimiter = b"--" + boundary.encode("ascii")
    body = b"".join(delimiter + CRLF + chunk + CRLF for chunk in chunks) + delimiter + b"--" + CRLF
    return body, f"{MULTIPART_MIXED}; boundary={boundary}"
