"""HRIS rows the database cannot hold, or that are not what the feed describes, are rejected one
by one naming the column (the row's result ``rejected``, its ``reason`` ``<column>: <rule>``),
never a 500 from ``POST /api/identity/hris`` nor a traceback from ``manage.py import_hris`` that
drops the whole file: the other rows apply as usual.

PostgreSQL text holds no NUL character and UTF-8 no lone surrogate (a JSON ``"\\ud800"`` escape,
or a file byte Python read with ``surrogateescape``); an employee id longer than the column
(200 characters) is a DataError; a JSON object or list where a column's text belongs was written
as its Python ``repr``; a key the feed does not know (a typo of ``department``) was ignored, where
a CSV column of that name is refused (``rows_from_text``). A lone surrogate escape in the API's
JSON body is refused with the body (a 400 naming the row's place and the rule), as the xAPI
resources refuse it.
"""

from __future__ import annotations

import base64
import json

import pytest
from django.core.management import call_command

from adapters.models import Employee, IdentityChange, IdentityLink

pytestmark = pytest.mark.django_db

GOOD = {"employee_id": "E1", "emails": ["ada@example.com"]}

# (row, the column its reason must name)
BAD_ROWS = [
    ({"employee_id": "E\u00002"}, "employee_id"),
    ({"employee_id": "E\ud8002"}, "employee_id"),
    ({"employee_id": "E" * 201}, "employee_id"),
    ({"employee_id": {"id": "E2"}}, "employee_id"),
    ({"employee_id": ["E2"]}, "employee_id"),
    ({"employee_id": True}, "employee_id"),
    ({"employee_id": "E2", "department": "Sa\u0000les"}, "department"),
    ({"employee_id": "E2", "manager_id": "M\ud800"}, "manager_id"),
    ({"employee_id": "E2", "manager_id": {"id": "M1"}}, "manager_id"),
    ({"employee_id": "E2", "status": ["active"]}, "status"),
    ({"employee_id": "E2", "emails": ["b\ud800@example.com"]}, "emails[0]"),
    (
        {"employee_id": "E2", "accounts": [{"homePage": "https://lms.example.com", "name": "n\u0000"}]},
        "accounts[0]",
    ),
    (
        {"employee_id": "E2", "accounts": [{"homePage": "https://lms.example.com", "name": "\ud800"}]},
        "accounts[0]",
    ),
    ({"employee_id": "E2", "depatment": "Sales"}, "depatment"),
]


def _stored() -> tuple[int, int, int]:
    return Employee.objects.count(), IdentityLink.objects.count(), IdentityChange.objects.count()


def _body(rows: list[dict]) -> bytes:
    # ensure_ascii: a lone surrogate goes as the escape a JSON sender writes, not as (unencodable) text
    return json.dumps(rows, ensure_ascii=True).encode()


@pytest.mark.parametrize(("row", "column"), BAD_ROWS, ids=[repr(row)[:60] for row, _ in BAD_ROWS])
def test_a_bad_row_sent_to_the_hris_api_is_rejected_naming_its_column_and_the_others_apply(
    client, make_credential, row, column
):
    credential, secret = make_credential("hris", ["identity/write"])
    auth = "Basic " + base64.b64encode(f"{credential.key}:{secret}".encode()).decode()
    response = client.post(
        "/api/identity/hris",
        _body([row, GOOD]),
        content_type="application/json",
        headers={"Authorization": auth},
    )
    if "\\ud800" in json.dumps(row):
        # A lone surrogate escape is refused with the body, as the xAPI resources refuse it
        # (adapters/identity/parsers.py): a 400 naming the row's place and the rule, nothing stored.
        assert response.status_code == 400, (response.status_code, response.content[:300])
        ((place, (message,)),) = response.json().items()
        assert place.startswith(f"body[0].{column}") and "(rule unpaired-surrogate)" in message
        assert not Employee.objects.exists() and not IdentityLink.objects.exists()
        return
    assert response.status_code == 200, (response.status_code, response.content[:300])
    bad, good = response.json()["results"]
    assert bad["result"] == "rejected" and bad["reason"].startswith(f"{column}: "), bad
    assert good["result"] == "created", good
    assert not Employee.objects.exclude(employee_id="E1").exists()
    assert not IdentityLink.objects.exclude(employee_id="E1").exists()


def test_a_bad_row_in_an_hris_file_is_rejected_naming_its_column_and_changes_nothing_else(tmp_path, capsys):
    header = "employee_id,emails,accounts,status,effective_date,manager_id,department\n"
    path = tmp_path / "feed.csv"
    path.write_bytes(
        header.encode()
        + b"E\x002,b@example.com,,active,,,\n"
        + b"E" * 201
        + b",c@example.com,,active,,,\n"
        + b"E3,d@example.com,,active,,,Sa\x00les\n"
        + b"E4,,https://lms.example.com|n\x00,active,,,\n"
        + b"E1,ada@example.com,,active,,,\n"
    )
    before = _stored()
    with pytest.raises(Exception) as refused:
        call_command("import_hris", str(path), "--dry-run", "--no-progress")
    assert type(refused.value).__name__ == "CommandError", refused.value
    assert "4 rows rejected" in str(refused.value)
    assert _stored() == before
    shown = capsys.readouterr().out
    for line, column in ((2, "employee_id"), (3, "employee_id"), (4, "department"), (5, "accounts[0]")):
        assert f"line {line}" in shown and column in shown, shown
