"""Statement text the JSON writers handle differently: integers beyond 64 bits (stored exactly),
unpaired surrogate escapes such as ``"\\ud800"`` (valid JSON grammar, but not Unicode text:
PostgreSQL text and jsonb cannot hold one, so it is a 400 naming where it is) and numbers beyond
a double's range such as ``1e400`` (a 400 naming where it is: read as infinity, it was stored as
``Infinity`` or ``null``).
https://www.rfc-editor.org/rfc/rfc8259#section-8.2"""

from __future__ import annotations

import json
import uuid

import pytest

from lrs.statements.models import Statement
from tests.conftest import make_statement

EXTENSION = "https://example.com/extensions/value"


def _with_extension(value: object) -> dict:
    statement = make_statement(statement_id=str(uuid.uuid4()))
    statement["result"] = {"extensions": {EXTENSION: value}}
    return statement


def _named(count: int) -> str:
    """How an error names the last statement of a body of ``count``: as validation does, whether
    it was found while reading the JSON text or while validating the statement."""
    return f"statements[{count - 1}]" if count > 1 else "statement"


# One statement, a small batch (one multi-table INSERT) and a large one (COPY) take different writers.
BATCH_SIZES = pytest.mark.parametrize("count", [1, 3, 20], ids=["single", "small-batch", "copy-batch"])


@BATCH_SIZES
def test_an_integer_beyond_64_bits_is_stored_and_served_exactly(xapi, count):
    big = 2**70 + 1
    statements = [_with_extension(big) for _ in range(count)]
    response = xapi.post_statements(statements if count > 1 else statements[0])
    assert response.status_code == 200, response.content
    served = xapi.get_statements(statementId=statements[-1]["id"], format="exact")
    assert json.loads(served.content)["result"]["extensions"][EXTENSION] == big


@BATCH_SIZES
def test_an_unpaired_surrogate_escape_is_a_400_naming_the_value_and_nothing_is_stored(xapi, count):
    statements = [_with_extension("fine") for _ in range(count)]
    statements[-1]["result"]["extensions"][EXTENSION] = "x\ud800y"
    body = json.dumps(statements if count > 1 else statements[0])  # ASCII: the escape \ud800
    assert "\\ud800" in body
    response = xapi.post_json("/xapi/statements", body)
    assert response.status_code == 400, response.content
    error = response.json()
    assert error["rule"] == "unpaired-surrogate"
    assert error["path"] == f'{_named(count)}.result.extensions["{EXTENSION}"]'
    assert Statement.objects.count() == 0


def test_an_unpaired_surrogate_in_a_property_name_is_named_in_ascii(xapi):
    statement = _with_extension("fine")
    statement["result"]["extensions"]["https://example.com/\udfff"] = 1
    response = xapi.post_json("/xapi/statements", json.dumps(statement))
    assert response.status_code == 400
    assert response.json()["path"] == 'statement.result.extensions["https://example.com/\\udfff"]'


def test_a_surrogate_pair_escape_is_one_character_and_is_kept(xapi):
    statement = _with_extension("smile \ud83d\ude00")
    response = xapi.post_json("/xapi/statements", json.dumps(statement))  # sent as \ud83d\ude00
    assert response.status_code == 200, response.content
    served = xapi.get_statements(statementId=statement["id"], format="exact")
    assert json.loads(served.content)["result"]["extensions"][EXTENSION] == "smile \U0001f600"


@BATCH_SIZES
@pytest.mark.parametrize("number", ["1e400", "-1.5E+999"])
def test_a_number_beyond_a_double_is_a_400_naming_the_value_and_nothing_is_stored(xapi, count, number):
    # RFC 8259 section 6 lets an implementation limit the range of numbers; a double's is the one
    # every JSON reader downstream shares. Read as infinity, such a number was stored as the text
    # Infinity (not JSON) or, through orjson, as null.
    statements = [_with_extension("fine") for _ in range(count)]
    statements[-1]["result"]["extensions"][EXTENSION] = "NUMBER"
    body = json.dumps(statements if count > 1 else statements[0]).replace('"NUMBER"', number)
    response = xapi.post_json("/xapi/statements", body)
    assert response.status_code == 400, response.content
    error = response.json()
    assert error["rule"] == "number-range"
    assert number in error["message"]
    assert error["path"] == f'{_named(count)}.result.extensions["{EXTENSION}"]'
    assert Statement.objects.count() == 0


def test_the_largest_double_is_kept(xapi):
    statement = _with_extension("NUMBER")
    body = json.dumps(statement).replace('"NUMBER"', "1.7976931348623157e308")
    response = xapi.post_json("/xapi/statements", body)
    assert response.status_code == 200, response.content
    served = xapi.get_statements(statementId=statement["id"], format="exact")
    assert json.loads(served.content)["result"]["extensions"][EXTENSION] == 1.7976931348623157e308


@pytest.mark.parametrize("fault", ["duplicate-property", "type"])
def test_a_fault_in_a_batch_is_named_statements_index_whether_found_reading_or_validating(xapi, fault):
    # The JSON reader finds a duplicate property (or a number beyond range, an unpaired surrogate),
    # the validator every other fault: both name the statement as statements[i], so a client maps
    # either back to its batch the same way.
    statements = [_with_extension("fine") for _ in range(3)]
    if fault == "type":
        statements[2]["result"]["success"] = "yes"
    body = json.dumps(statements)
    if fault == "duplicate-property":
        head, tail = body.rsplit('"fine"', 1)
        body = f'{head}"fine", "{EXTENSION}": 2{tail}'
    response = xapi.post_json("/xapi/statements", body)
    assert response.status_code == 400, response.content
    error = response.json()
    assert error["rule"] == fault
    place = f'extensions["{EXTENSION}"]' if fault == "duplicate-property" else "success"
    assert error["path"] == f"statements[2].result.{place}"
    assert Statement.objects.count() == 0
