"""Fuzz: multipart/mixed statement requests with one thing wrong, signed statements with odd JWS.

Communication 1.5.2 (Multipart/Mixed) and Data 2.4.11 (Attachments), 2.6 (Signed Statements):
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#152-multipartmixed
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#26-signed-statements
A request that breaks the multipart syntax, sends a part no attachment names or an attachment no
part carries, a hash that does not match, or a signature that is not a JWS of the statement is a
400 naming the part or attachment, and stores nothing: no statement and no attachment bytes.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st

from lrs.xapi.signatures import SIGNATURE_USAGE_TYPE
from tests.conftest import XAPIClient, make_statement
from tests.lrs.api.fuzz.harness import FUZZ_SETTINGS, assert_clear, send, table_counts, tally
from tests.lrs.xapi.test_signatures import jws, self_signed

pytestmark = pytest.mark.django_db

BOUNDARY = "fuzz-boundary-0123"
USAGE = "http://example.com/attachment-usage/cert"


@functools.cache
def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _attachment(data: bytes, usage: str = USAGE, content_type: str = "text/plain") -> dict[str, Any]:
    return {
        "usageType": usage,
        "display": {"en-US": "file"},
        "contentType": content_type,
        "length": len(data),
        "sha2": hashlib.sha256(data).hexdigest(),
    }


def _part(data: bytes, headers: list[tuple[str, str]]) -> bytes:
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    return head.encode("latin-1", "replace") + b"\r\n" + data


JWS_HEADERS: tuple[Any, ...] = (
    {"alg": "RS256"},
    {"alg": "HS256"},
    {"alg": "none"},
    {"alg": []},
    {"alg": {"a": 1}},
    {"alg": None},
    {"alg": "RS256", "x5c": "not a list"},
    {"alg": "RS256", "x5c": [1]},
    {"alg": "RS256", "x5c": ["!!!"]},
    {"alg": "RS256", "x5c": [base64.b64encode(b"not a certificate").decode()]},
    {"alg": "RS256", "crit": ["x"]},
    [],
    "text",
)


@st.composite
def signature_data(draw: st.DrawFn, statement: dict[str, Any]) -> bytes:
    """A JWS of the statement, or something that is not quite one."""
    kind = draw(
        st.sampled_from(("valid", "x5c", "header", "payload", "garbage", "segments", "other-statement"))
    )
    tally(f"jws {kind}")
    if kind == "valid":
        return jws(statement, _key())
    if kind == "x5c":
        return jws(statement, _key(), x5c=[self_signed(_key())])
    if kind == "header":
        header = draw(st.sampled_from(JWS_HEADERS))
        payload = json.dumps(statement).encode()
        return f"{_b64url(json.dumps(header).encode())}.{_b64url(payload)}.{_b64url(b'sig')}".encode()
    if kind == "payload":
        payload = draw(st.sampled_from((b"", b"[]", b"{", b"null", b'{"a":1,"a":2}', b"\xff", b"[" * 300)))
        return jws(payload, _key())
    if kind == "segments":
        return draw(st.sampled_from((b"a.b", b"a.b.c.d", b"..", b"a..c", b"\xff.\xfe.\xfd", b"=.=.=", b"")))
    if kind == "other-statement":
        return jws(make_statement(actor_email="someone-else@example.com"), _key())
    return draw(st.binary(max_size=60))


MUTATIONS = (
    "none",
    "wrong-hash",
    "missing-part",
    "extra-part",
    "no-hash-header",
    "bad-hash-header",
    "base64-encoding",
    "first-part-type",
    "no-close",
    "other-boundary",
    "no-boundary-param",
    "duplicate-header",
    "garbage-header",
    "truncate",
    "statements-split",
)


@given(
    mutation=st.sampled_from(("none",) * len(MUTATIONS) + MUTATIONS),  # half: only the signature is odd
    signed=st.booleans(),
    batch=st.booleans(),
    data=st.data(),
    version=st.sampled_from(("1.0.3", "2.0.0")),
)
@FUZZ_SETTINGS
def test_a_broken_multipart_request_is_a_400_naming_the_part_and_stores_nothing(
    xapi: XAPIClient, mutation: str, signed: bool, batch: bool, data: st.DataObject, version: str
) -> None:
    xapi.headers["X-Experience-API-Version"] = version
    content = data.draw(st.binary(min_size=1, max_size=30))
    statement = make_statement(statement_id=str(uuid.uuid4()))
    parts: list[tuple[bytes, list[tuple[str, str]]]] = []
    if signed:
        token = data.draw(signature_data(statement))
        statement["attachments"] = [_attachment(token, SIGNATURE_USAGE_TYPE, "application/octet-stream")]
        parts.append((token, [("Content-Type", "application/octet-stream")]))
    else:
        statement["attachments"] = [_attachment(content)]
        parts.append((content, [("Content-Type", "text/plain")]))
    parts = [
        (
            body,
            [
                *headers,
                ("Content-Transfer-Encoding", "binary"),
                ("X-Experience-API-Hash", hashlib.sha256(body).hexdigest()),
            ],
        )
        for body, headers in parts
    ]
    statements: Any = [statement, make_statement(statement_id=str(uuid.uuid4()))] if batch else statement
    first_headers = [("Content-Type", "application/json")]
    boundary_param = BOUNDARY
    if mutation == "wrong-hash":
        parts[0] = (parts[0][0] + b"x", parts[0][1])
    elif mutation == "missing-part":
        parts = []
    elif mutation == "extra-part":
        parts.append(
            (
                b"extra",
                [
                    ("Content-Type", "text/plain"),
                    ("X-Experience-API-Hash", hashlib.sha256(b"extra").hexdigest()),
                ],
            )
        )
    elif mutation == "no-hash-header":
        parts[0] = (parts[0][0], [h for h in parts[0][1] if h[0] != "X-Experience-API-Hash"])
    elif mutation == "bad-hash-header":
        parts[0] = (
            parts[0][0],
            [
                *parts[0][1][:-1],
                (
                    "X-Experience-API-Hash",
                    data.draw(st.sampled_from(("", "zz", "a" * 63, "é" * 64, "A" * 64))),
                ),
            ],
        )
    elif mutation == "base64-encoding":
        parts[0] = (
            parts[0][0],
            [
                ("Content-Transfer-Encoding", "base64") if h[0] == "Content-Transfer-Encoding" else h
                for h in parts[0][1]
            ],
        )
    elif mutation == "first-part-type":
        first_headers = data.draw(
            st.sampled_from(
                ([], [("Content-Type", "text/plain")], [("Content-Type", "application/json; charset=utf-16")])
            )
        )
    elif mutation == "duplicate-header":
        parts[0] = (parts[0][0], [*parts[0][1], parts[0][1][-1]])
    elif mutation == "garbage-header":
        parts[0] = (parts[0][0], [*parts[0][1], ("Bad Header", "x"), ("", "y")])
    elif mutation == "other-boundary":
        boundary_param = data.draw(
            st.sampled_from(("other", BOUNDARY[:-1], "", '"' + BOUNDARY + '"', BOUNDARY + "é"))
        )
    statement_json = json.dumps(statements).encode()
    body_parts = [_part(statement_json, first_headers)]
    if mutation == "statements-split":
        body_parts.append(
            _part(json.dumps(make_statement()).encode(), [("Content-Type", "application/json")])
        )
    body_parts += [_part(body, headers) for body, headers in parts]
    body = b"".join(f"--{BOUNDARY}\r\n".encode() + part + b"\r\n" for part in body_parts)
    body += b"" if mutation == "no-close" else f"--{BOUNDARY}--\r\n".encode()
    if mutation == "truncate":
        body = body[: data.draw(st.integers(0, len(body) - 1))]
    content_type = (
        "multipart/mixed"
        if mutation == "no-boundary-param"
        else f'multipart/mixed; boundary="{boundary_param}"'
    )
    if mutation == "other-boundary" and boundary_param.startswith('"'):
        content_type = f"multipart/mixed; boundary={boundary_param}"
    before = table_counts()
    response = send(xapi, "post", "/xapi/statements", body=body, content_type=content_type)
    result = assert_clear(response)
    tally(f"{mutation} signed={signed}: {response.status_code} {result.get('rule') if result else ''}")
    if result is None:
        ids = json.loads(response.content)
        assert table_counts()["Statement"] == before["Statement"] + len(ids)
        return
    assert table_counts() == before, result
    if mutation != "none" and not signed and mutation not in {"truncate", "other-boundary"}:
        # One thing was broken: the answer names the multipart syntax, a part or the attachment.
        assert any(
            str(path).startswith(("multipart", "statement", "body", "Content-Type"))
            for path in [result["path"], *(e["path"] for e in result.get("errors", ()))]
        ), result
