"""The HRIS delta feed (``manage.py import_hris``, ``POST /api/identity/hris``): per-row results,
idempotent, a row that would make an identifier ambiguous rejected whole with its line, the
feed's own identifiers kept in step with the HRIS (others untouched), 10,000 rows in seconds."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from adapters.identity.hris import hris_import, rows_from_text
from adapters.identity.links import Identifiers, identity_links_upsert
from adapters.identity.resolution import employee_for_actor
from adapters.models import Employee, IdentityChange, IdentityLink

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).resolve().parents[3] / "config" / "hris_delta_sample.csv"
HEADER = "employee_id,emails,accounts,status,effective_date,manager_id,department\n"


def run(text: str, *, jsonl: bool = False, dry_run: bool = False) -> list[dict]:
    return [result.as_dict() for result in hris_import(rows_from_text(text, jsonl=jsonl), dry_run=dry_run)]


def test_the_sample_file_creates_its_employees_and_a_second_run_changes_nothing():
    first = run(SAMPLE.read_text())
    assert [row["result"] for row in first] == ["created"] * 3
    grace = Employee.objects.get(employee_id="E102")
    assert (grace.status, str(grace.terminated_on), grace.manager_id) == ("terminated", "2026-11-30", "M11")
    assert set(IdentityLink.objects.filter(employee_id="E101").values_list("value", flat=True)) == {
        "ada.lovelace@example.com",
        "ada@example.org",
    }
    history = IdentityChange.objects.count()
    assert [row["result"] for row in run(SAMPLE.read_text())] == ["unchanged"] * 3
    assert IdentityChange.objects.count() == history


def test_a_row_that_would_make_an_identifier_ambiguous_is_rejected_whole_with_its_line():
    identity_links_upsert(
        employee_id="E1", identifiers=Identifiers(emails=["sam@example.com"]), source="admin"
    )
    results = run(
        HEADER
        + "E2,new@example.com;Sam@Example.com,https://lms.example.com|e2,active,,M1,Sales\n"
        + "E3,e3@example.com,,active,,,\n"
    )
    assert results[0]["line"] == 2 and results[0]["result"] == "rejected"
    assert "email Sam@Example.com is linked to employee E1" in results[0]["reason"]
    assert results[1]["result"] == "created"
    # Nothing of the rejected row: no employee record, none of its other identifiers.
    assert not Employee.objects.filter(employee_id="E2").exists()
    assert not IdentityLink.objects.filter(employee_id="E2").exists()
    assert IdentityLink.objects.get(lookup_key="email:sam@example.com").employee_id == "E1"


def test_a_row_linking_an_address_whose_sha1_another_employee_holds_is_rejected_as_ambiguous():
    """An address's SHA-1 form is the same mailbox (Data 2.4.2.3): linking the address beside an
    explicit link of its SHA-1 to another employee would make that SHA-1 ambiguous."""
    digest = hashlib.sha1(b"mailto:sam@example.com").hexdigest()
    identity_links_upsert(employee_id="E1", identifiers=Identifiers(mbox_sha1sums=[digest]))
    [result] = run(HEADER + "E2,Sam@Example.com,,active,,,\n")
    assert result["result"] == "rejected", result
    assert "Sam@Example.com (its SHA-1) is linked to employee E1" in result["reason"]
    assert not IdentityLink.objects.filter(employee_id="E2").exists()
    assert employee_for_actor({"mbox_sha1sum": digest}) == "E1"


def test_identifiers_the_hris_no_longer_lists_are_unlinked_and_others_kept():
    run(HEADER + "E1,one@example.com;two@example.com,,active,,,\n")
    identity_links_upsert(
        employee_id="E1", identifiers=Identifiers(emails=["lms-only@example.com"]), source="api"
    )
    [result] = run(HEADER + "E1,two@example.com,,active,,M9,\n")
    assert result["result"] == "updated"
    assert result["changes"] == ["manager_id: - -> M9", "unlinked email one@example.com"]
    assert set(IdentityLink.objects.filter(employee_id="E1").values_list("value", flat=True)) == {
        "two@example.com",
        "lms-only@example.com",
    }


def test_an_identifier_moves_between_employees_when_the_losing_row_comes_first():
    run(HEADER + "E1,sam@example.com,,active,,,\n")
    results = run(HEADER + "E1,,,terminated,2026-10-31,,\nE2,sam@example.com,,active,2026-11-01,,\n")
    assert [row["result"] for row in results] == ["updated", "created"]
    assert IdentityLink.objects.get(lookup_key="email:sam@example.com").employee_id == "E2"


def test_a_later_row_of_an_employee_the_same_file_created_reports_what_it_changed_not_created():
    # The rows are applied in order, each reported against what the rows before left (module
    # docstring of adapters/identity/hris.py): one employee is created once, so "created" counts
    # the employees a file created.
    results = run(
        HEADER
        + "E1,sam@example.com,,active,,,\nE1,sam@example.com,,active,,,\nE1,sam@example.com,,active,,M1,\n"
    )
    assert [row["result"] for row in results] == ["created", "unchanged", "updated"]
    assert results[2]["changes"] == ["manager_id: - -> M1"]


def test_json_lines_rows_and_unreadable_rows_are_reported_per_line():
    text = "\n".join(
        [
            json.dumps({"employee_id": "E5", "emails": ["e5@example.com"], "status": "active"}),
            "{not json",
            json.dumps({"employee_id": "E6", "status": "retired"}),
            json.dumps({"employee_id": "E7", "effective_date": "31/10/2026"}),
            json.dumps({"employee_id": "E8", "accounts": [{"homePage": "https://lms.example.com"}]}),
        ]
    )
    results = run(text, jsonl=True)
    assert [(row["line"], row["result"]) for row in results] == [
        (1, "created"),
        (2, "rejected"),
        (3, "rejected"),
        (4, "rejected"),
        (5, "rejected"),
    ]
    assert "status: 'retired' is not active or terminated" in results[2]["reason"]
    assert "effective_date" in results[3]["reason"] and "accounts[0]" in results[4]["reason"]


def test_a_dry_run_reports_and_writes_nothing():
    results = run(SAMPLE.read_text(), dry_run=True)
    assert [row["result"] for row in results] == ["created"] * 3
    assert not Employee.objects.exists() and not IdentityLink.objects.exists()
    assert not IdentityChange.objects.exists()


def test_ten_thousand_rows_import_in_seconds_and_a_second_run_reports_them_all_unchanged(tmp_path):
    lines = [
        f"E{n:05d},person{n}@example.com,https://lms.example.com|u{n},"
        f"{'terminated' if n % 50 == 0 else 'active'},2026-11-01,M{n % 97},Dept{n % 13}"
        for n in range(10_000)
    ]
    path = tmp_path / "delta.csv"
    path.write_text(HEADER + "\n".join(lines) + "\n")
    timings = []
    for expected in ("10000 created", "10000 unchanged"):
        out, err = io.StringIO(), io.StringIO()
        started = time.monotonic()
        call_command("import_hris", str(path), "--no-progress", stdout=out, stderr=err)
        timings.append(time.monotonic() - started)
        assert "10000 rows: " in err.getvalue() and expected in err.getvalue(), err.getvalue()
    print(f"10,000 HRIS rows: first run {timings[0]:.1f} s, second run {timings[1]:.1f} s")
    assert Employee.objects.count() == 10_000 and IdentityLink.objects.count() == 20_000
    assert Employee.objects.filter(status="terminated").count() == 200
    assert max(timings) < 30


def test_the_command_exits_non_zero_naming_rejected_rows_and_prints_json_lines(tmp_path):
    path = tmp_path / "delta.jsonl"
    path.write_text(json.dumps({"employee_id": "E1"}) + "\n" + json.dumps({"status": "active"}) + "\n")
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 rows rejected"):
        call_command("import_hris", str(path), "--json", "--no-progress", stdout=out, stderr=io.StringIO())
    printed = [json.loads(line) for line in out.getvalue().splitlines()]
    assert printed == [
        {"line": 1, "employee_id": "E1", "result": "created"},
        {"line": 2, "employee_id": "", "result": "rejected", "reason": "employee_id: required"},
    ]


def test_the_hris_api_applies_rows_with_per_row_results_under_its_scope(client, make_credential):
    credential, secret = make_credential("hris", ["identity/write"])
    auth = "Basic " + base64.b64encode(f"{credential.key}:{secret}".encode()).decode()
    rows = [{"employee_id": "E9", "emails": ["e9@example.com"], "manager_id": "M1"}, {"employee_id": ""}]
    answer = client.post(
        "/api/identity/hris", rows, content_type="application/json", headers={"Authorization": auth}
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["counts"] == {"created": 1, "updated": 0, "unchanged": 0, "rejected": 1}
    assert answer.json()["results"][1]["reason"] == "employee_id: required"
    assert IdentityChange.objects.filter(changed_by="credential:hris").exists()
    ndjson = "\n".join(json.dumps(row) for row in rows[:1])
    again = client.post(
        "/api/identity/hris?dry_run=true",
        ndjson,
        content_type="application/x-ndjson",
        headers={"Authorization": auth},
    )
    assert again.json()["counts"]["unchanged"] == 1 and again.json()["dry_run"] is True
    reader, reader_secret = make_credential("reader", ["statements/read"])
    refused = client.post(
        "/api/identity/hris",
        rows,
        content_type="application/json",
        headers={
            "Authorization": "Basic " + base64.b64encode(f"{reader.key}:{reader_secret}".encode()).decode()
        },
    )
    assert refused.status_code == 403


def test_a_termination_without_a_date_keeps_its_first_date_when_the_row_is_sent_again():
    from datetime import date, timedelta

    run(HEADER + "E1,one@example.com,,active,,,\n")
    Employee.objects.filter(employee_id="E1").update(
        status="terminated", terminated_on=date.today() - timedelta(days=20)
    )
    [again] = run(HEADER + "E1,one@example.com,,terminated,,,\n")
    assert again["result"] == "unchanged", again
    assert Employee.objects.get(employee_id="E1").terminated_on == date.today() - timedelta(days=20)


@pytest.mark.django_db(transaction=True)
def test_two_imports_at_once_cannot_both_link_one_address_to_different_employees(monkeypatch):
    # Each import checks ambiguity against the links it loaded: the second must load after the
    # first committed, or both pass the check and the address ends up linked to two employees.
    import threading

    from django.db import connection

    from adapters.identity import hris

    loaded = threading.Event()
    real_load = hris._load

    def slow_load(rows):
        plan = real_load(rows)
        if threading.current_thread().name == "first":
            loaded.set()
            time.sleep(1.0)  # the second import runs meanwhile
        return plan

    monkeypatch.setattr(hris, "_load", slow_load)
    results: dict[str, list[dict]] = {}

    def import_row(name: str, employee: str) -> None:
        try:
            results[name] = run(HEADER + f"{employee},shared@example.com,,active,,,\n")
        finally:
            connection.close()

    first = threading.Thread(target=import_row, args=("first", "E1"), name="first")
    first.start()
    assert loaded.wait(10)
    second = threading.Thread(target=import_row, args=("second", "E2"), name="second")
    second.start()
    first.join(20)
    second.join(20)
    assert results["first"][0]["result"] == "created"
    assert results["second"][0]["result"] == "rejected"
    assert list(
        IdentityLink.objects.filter(lookup_key="email:shared@example.com").values_list(
            "employee_id", flat=True
        )
    ) == ["E1"]


@pytest.mark.parametrize("column", ["manager_id", "department"])
def test_a_row_whose_manager_or_department_is_longer_than_an_employee_holds_is_rejected_naming_it(
    client, make_credential, column
):
    """A value longer than the employee record holds (200 characters) rejects its row naming the
    column; it is not a database error that fails the whole file with a 500."""
    credential, secret = make_credential("hris", ["identity/write"])
    auth = "Basic " + base64.b64encode(f"{credential.key}:{secret}".encode()).decode()
    rows = [{"employee_id": "E1", column: "x" * 201}, {"employee_id": "E2", "emails": ["e2@example.com"]}]
    answer = client.post(
        "/api/identity/hris", rows, content_type="application/json", headers={"Authorization": auth}
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["counts"] == {"created": 1, "updated": 0, "unchanged": 0, "rejected": 1}
    assert answer.json()["results"][0]["reason"].startswith(f"{column}:")
    assert not Employee.objects.filter(employee_id="E1").exists()
    assert Employee.objects.filter(employee_id="E2").exists()
