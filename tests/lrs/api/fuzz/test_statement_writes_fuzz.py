"""Fuzz: statements with one place broken, alone (POST, PUT) or in a batch, and broken JSON text.

A rejection is a 4xx naming the broken place (Data 2.2, "Formatting Requirements": the LRS
rejects what breaks a rule; https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#22-formatting-requirements)
and stores nothing of the request: "If any Statement in a batch is rejected, the whole batch is
rejected" (Communication 2.1.2, POST Statements). An acceptance stores every statement sent, each
readable with GET ``statementId`` afterwards. Which mutations are valid is not predicted: a
dropped ``name`` or a replaced language map may well be fine; the fuzz checks that whatever the
answer, it is one of those two outcomes, never a 5xx and never a half-stored batch.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import XAPIClient
from tests.lrs.api.fuzz.harness import FUZZ_SETTINGS, assert_clear, names_place, send, table_counts, tally
from tests.lrs.api.fuzz.statements import TEMPLATES, dumps, mutated, render_places

pytestmark = pytest.mark.django_db

STATEMENTS = "/xapi/statements"
VERSIONS = ("1.0.3", "2.0.0")


def _client(xapi: XAPIClient, version: str) -> XAPIClient:
    xapi.headers["X-Experience-API-Version"] = version
    return xapi


def _stored(xapi: XAPIClient, ids: list[str]) -> None:
    for statement_id in ids:
        response = send(xapi, "get", STATEMENTS, [("statementId", statement_id)])
        assert response.status_code == 200, (statement_id, response.content[:300])
        assert json.loads(response.content)["id"] == statement_id


def _check(
    xapi: XAPIClient, response: Any, before: dict[str, int], places: list[str], ids: list[str]
) -> None:
    body = assert_clear(response)
    if body is None:
        tally(f"accepted ({response.status_code})")
        _stored(xapi, ids or json.loads(response.content))
        return
    tally(f"rejected {response.status_code} {body.get('rule')}")
    assert table_counts() == before, body
    if response.status_code == 400 and body.get("rule") not in {"json", "utf-8", "json-depth"}:
        assert names_place(body, places), (places, body)


@st.composite
def one_broken(draw: st.DrawFn) -> tuple[dict[str, Any], list[str], str]:
    template = draw(st.sampled_from(TEMPLATES))(draw(st.integers(0, 3)))
    template["id"] = str(uuid.uuid4())  # fresh: a repeat of an id stored earlier is another test
    statement, where, operation = draw(mutated(template))
    tally(f"{operation} {where[0]}")
    return statement, render_places("statement", where), operation


@given(case=one_broken(), version=st.sampled_from(VERSIONS), ascii_only=st.booleans())
@FUZZ_SETTINGS
def test_a_post_of_one_broken_statement_is_stored_whole_or_rejected_naming_the_place(
    xapi: XAPIClient, case: tuple[dict[str, Any], list[str], str], version: str, ascii_only: bool
) -> None:
    statement, places, _operation = case
    client = _client(xapi, version)
    before = table_counts()
    response = send(
        client,
        "post",
        STATEMENTS,
        body=dumps(statement, ascii_only=ascii_only),
        content_type="application/json",
    )
    _check(client, response, before, places, [])


@given(case=one_broken(), version=st.sampled_from(VERSIONS), param_id=st.uuids())
@FUZZ_SETTINGS
def test_a_put_of_one_broken_statement_is_stored_whole_or_rejected_naming_the_place(
    xapi: XAPIClient, case: tuple[dict[str, Any], list[str], str], version: str, param_id: uuid.UUID
) -> None:
    statement, places, _operation = case
    client = _client(xapi, version)
    # The statementId parameter: the statement's own id when it still has a string one.
    statement_id = statement.get("id") if type(statement.get("id")) is str else str(param_id)
    before = table_counts()
    response = send(
        client,
        "put",
        STATEMENTS,
        [("statementId", statement_id)],
        dumps(statement),
        content_type="application/json",
    )
    _check(
        client,
        response,
        before,
        [*places, "statementId"],
        [statement_id] if response.status_code == 204 else [],
    )


@st.composite
def batch_with_one_broken(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[str]]:
    size = draw(st.integers(2, 5))
    statements = [draw(st.sampled_from(TEMPLATES))(n) for n in range(size)]
    for statement in statements:
        statement["id"] = str(uuid.uuid4())
    bad = draw(st.integers(0, size - 1))
    statements[bad], where, operation = draw(mutated(statements[bad]))
    tally(f"batch: {operation} {where[0]}")
    return statements, render_places(f"statements[{bad}]", where)


@given(case=batch_with_one_broken(), version=st.sampled_from(VERSIONS))
@FUZZ_SETTINGS
def test_a_batch_with_one_broken_statement_is_stored_whole_or_not_at_all(
    xapi: XAPIClient, case: tuple[list[dict[str, Any]], list[str]], version: str
) -> None:
    statements, places = case
    client = _client(xapi, version)
    before = table_counts()
    response = send(client, "post", STATEMENTS, body=dumps(statements), content_type="application/json")
    _check(client, response, before, places, [])
    if response.status_code == 200:
        assert table_counts()["Statement"] == before["Statement"] + len(statements)


def _text_mutation(draw: st.DrawFn, text: bytes) -> bytes:
    operation = draw(
        st.sampled_from(
            (
                "truncate",
                "byte",
                "duplicate",
                "bom",
                "utf16",
                "nul-key",
                "wrap",
                "trailing",
                "binary",
                "empty",
            )
        )
    )
    tally(f"text: {operation}")
    if operation == "truncate":
        return text[: draw(st.integers(0, len(text) - 1))]
    if operation == "byte":
        at = draw(st.integers(0, len(text) - 1))
        return (
            text[:at]
            + draw(st.sampled_from((b"\xff", b"\xc3", b"\x00", b"\xed\xa0\x80", b"\\", b'"')))
            + text[at + 1 :]
        )
    if operation == "duplicate":
        return b'{"verb": {"id": "http://example.com/v"}, ' + text[1:]
    if operation == "bom":
        return b"\xef\xbb\xbf" + text  # a UTF-8 byte order mark: read past (RFC 8259 8.1 allows ignoring it)
    if operation == "utf16":
        return text.decode("utf-8").encode("utf-16")
    if operation == "nul-key":
        return b'{"\\u0000": 1, ' + text[1:]
    if operation == "wrap":
        return b"[" * draw(st.integers(1, 120)) + text + b"]" * draw(st.integers(0, 120))
    if operation == "trailing":
        return text + draw(st.sampled_from((b" x", b",", b"}", b"\x00", b" {}")))
    if operation == "binary":
        return draw(st.binary(max_size=200))
    return draw(st.sampled_from((b"", b" ", b"null", b"0", b'""', b"[]", b"{}", b"NaN", b"[null]", b"[[]]")))


@given(data=st.data(), version=st.sampled_from(VERSIONS))
@FUZZ_SETTINGS
def test_broken_json_text_is_a_400_and_stores_nothing(
    xapi: XAPIClient, data: st.DataObject, version: str
) -> None:
    template = data.draw(st.sampled_from(TEMPLATES))(0)
    template["id"] = str(uuid.uuid4())
    text = _text_mutation(data.draw, dumps(template))
    client = _client(xapi, version)
    before = table_counts()
    response = send(client, "post", STATEMENTS, body=text, content_type="application/json")
    body = assert_clear(response)
    if body is None:  # a byte order mark, or a byte changed inside a string into another valid one
        _stored(client, json.loads(response.content))
    else:
        assert response.status_code == 400, body
        assert table_counts() == before, body
