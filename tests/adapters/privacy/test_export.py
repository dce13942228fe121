"""Subject access export (``manage.py export_actor``, the admin's "Export a person"): the ZIP holds
exactly the person's statements in every role, their documents, the delivery records of those
statements and their identity records, nothing of anyone else, with a manifest whose counts match;
an export reads a page of statements at a time; an unknown person is an error."""

from __future__ import annotations

import hashlib
import io
import json
import tracemalloc
import uuid
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from adapters.identity.links import Identifiers, identity_links_upsert
from adapters.models import Attempt, Delivery, Employee, Target
from adapters.privacy import export as export_module
from adapters.privacy.export import SubjectExport
from adapters.privacy.subjects import subject_for
from lrs.documents.models import Document
from lrs.statements.models import Statement
from lrs.statements.selectors import statements_by_pk
from lrs.statements.store import statement_store
from lrs.xapi.agents import agent_ifi
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db

ADA = {"objectType": "Agent", "name": "Ada", "mbox": "mailto:ada@example.com"}
ADA_ACCOUNT = {"objectType": "Agent", "account": {"homePage": "https://lms.example.com", "name": "ada"}}
BOB = {"objectType": "Agent", "name": "Bob", "mbox": "mailto:bob@example.com"}
CAROL = {"objectType": "Agent", "mbox": "mailto:carol@example.com"}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def statement(actor: dict, **parts) -> dict:
    base = make_statement(statement_id=str(uuid.uuid4()))
    base["actor"] = actor
    base.update(parts)
    return base


def document(kind: str, agent: dict, document_id: str, content: bytes, content_type: str) -> Document:
    return Document.objects.create(
        kind=kind,
        activity_id="https://lms.example.com/courses/safety-101" if kind == "state" else "",
        agent_ifi=agent_ifi(agent),
        document_id=document_id,
        content=content,
        content_type=content_type,
        etag='"' + "0" * 40 + '"',
        updated=timezone.now(),
    )


@pytest.fixture
def people() -> dict[str, str]:
    """Ada (employee E1: an e-mail and an LMS account) as actor, as instructor in Bob's statement
    (under her account), as group member, in a voided statement; Bob alone; their documents and
    deliveries. Returns statement ids by role."""
    identity_links_upsert(
        employee_id="E1",
        identifiers=Identifiers(emails=["ada@example.com"], accounts=[ADA_ACCOUNT["account"]]),
        source="admin",
    )
    Employee.objects.create(employee_id="E1", department="Safety", effective_date=date(2025, 1, 6))
    stored = {
        "actor": statement(ADA),
        "instructor": statement(BOB, context={"instructor": ADA_ACCOUNT}),
        "member": statement({"objectType": "Group", "member": [ADA, CAROL]}),
        "voided": statement(ADA),
        "bob": statement(BOB),
    }
    statement_store(statements=list(stored.values()), credential=None)
    voiding = statement(
        BOB,
        verb={"id": "http://adlnet.gov/expapi/verbs/voided"},
        object={"objectType": "StatementRef", "id": stored["voided"]["id"]},
    )
    statement_store(statements=[voiding], credential=None)
    document("state", ADA, "bookmark", b'{"page": 7}', "application/json")
    document("agentProfile", ADA_ACCOUNT, "avatar", PNG, "image/png")
    document("state", BOB, "bookmark", b'{"page": 1}', "application/json")
    target = Target.objects.create(name="pms", adapter="pms", config={})
    now = timezone.now()
    for role, status in (("actor", Delivery.DELIVERED), ("bob", Delivery.DEAD)):
        row = Statement.objects.get(statement_id=stored[role]["id"])
        delivery = Delivery.objects.create(
            target=target,
            statement=row,
            statement_uuid=row.statement_id,
            status=status,
            attempts=2,
            idempotency_key=f"key-{role}",
            next_attempt_at=now,
            last_error="" if status == Delivery.DELIVERED else "HTTP 400",
        )
        for number, outcome in ((1, Attempt.RETRY), (2, Attempt.SUCCESS)):
            Attempt.objects.create(
                delivery=delivery,
                number=number,
                started_at=now - timedelta(minutes=3 - number),
                outcome=outcome,
                status_code=503 if outcome == Attempt.RETRY else 200,
                error="HTTP 503" if outcome == Attempt.RETRY else "",
                response_excerpt='{"id": "evt-1"}',
            )
    return {role: body["id"] for role, body in stored.items()} | {"voiding": voiding["id"]}


def read_zip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def lines(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.decode().splitlines()]


def export_command(tmp_path: Path, *args: str) -> dict[str, bytes]:
    output = tmp_path / "export.zip"
    call_command("export_actor", *args, "--output", str(output), "--no-progress", stdout=io.StringIO())
    return read_zip(output.read_bytes())


def test_an_employee_export_holds_exactly_their_statements_documents_deliveries_and_identity(
    people, tmp_path
):
    files = export_command(tmp_path, "--employee-id", "E1")

    statements = {s["id"]: s for s in lines(files["statements.jsonl"])}
    assert set(statements) == {people["actor"], people["instructor"], people["member"]}
    # As the LRS stores and serves them: stored, authority-free here, the person named as sent.
    assert statements[people["instructor"]]["context"]["instructor"] == ADA_ACCOUNT
    assert "stored" in statements[people["actor"]]
    assert [s["id"] for s in lines(files["voided_statements.jsonl"])] == [people["voided"]]

    metas = sorted(
        (json.loads(data) for name, data in files.items() if name.endswith(".meta.json")),
        key=lambda meta: meta["kind"],
    )
    assert [(m["kind"], m.get("stateId") or m.get("profileId")) for m in metas] == [
        ("agentProfile", "avatar"),
        ("state", "bookmark"),
    ]
    assert metas[0]["agent"] == ADA_ACCOUNT and metas[0]["contentType"] == "image/png"
    assert files["documents/" + metas[0]["content"]] == PNG  # binary content as stored
    assert json.loads(files["documents/" + metas[1]["content"]]) == {"page": 7}

    [delivery] = lines(files["deliveries.jsonl"])
    assert delivery["statement"] == people["actor"]
    assert (delivery["target"], delivery["kind"], delivery["status"], delivery["attempts"]) == (
        "pms",
        "deliver",
        "delivered",
        2,
    )
    assert [a["outcome"] for a in delivery["attempt_log"]] == ["retry", "success"]
    assert "idempotency_key" not in delivery and "response_excerpt" not in json.dumps(delivery)

    identity = json.loads(files["identity.json"])
    assert {link["value"] for link in identity["links"]} == {"ada@example.com", "https://lms.example.com ada"}
    assert [change["action"] for change in identity["history"]] == ["link_added", "link_added"]
    [employee] = identity["employees"]
    assert (employee["employee_id"], employee["department"], employee["effective_date"]) == (
        "E1",
        "Safety",
        "2025-01-06",
    )

    # Nothing of anyone else: Bob's own statement, document and delivery are not there.
    everything = b"".join(files.values()).decode("utf-8", "replace")
    assert people["bob"] not in everything and people["voiding"] not in everything
    assert '"page": 1' not in everything and '"page":1' not in everything
    assert "HTTP 400" not in everything

    manifest = json.loads(files["manifest.json"])
    assert manifest["counts"] == {
        "statements": 3,
        "voided_statements": 1,
        "attachments": 0,
        "documents": 2,
        "deliveries": 1,
        "attempts": 2,
        "skill_records": 0,
        "skill_evidence": 0,
        "identity_links": 2,
        "employees": 1,
        "identity_changes": 2,
    }
    assert manifest["subject"]["employee_id"] == "E1"
    # Every form the person is filed under: the address (and its SHA-1 form), the account.
    sha1 = hashlib.sha1(b"mailto:ada@example.com").hexdigest()
    assert {json.dumps(agent, sort_keys=True) for agent in manifest["subject"]["agents"]} == {
        json.dumps({"objectType": "Agent", "mbox": "mailto:ada@example.com"}, sort_keys=True),
        json.dumps({"objectType": "Agent", "mbox_sha1sum": sha1}, sort_keys=True),
        json.dumps(ADA_ACCOUNT, sort_keys=True),
    }
    stored = sorted(
        Statement.objects.filter(statement_id__in=list(statements)).values_list("stored", flat=True)
    )
    assert manifest["time_range"]["statements_stored"]["first"].startswith(
        stored[0].strftime("%Y-%m-%dT%H:%M")
    )
    assert manifest["generated_at"].endswith("Z")
    assert set(files) == {
        "manifest.json",
        "statements.jsonl",
        "voided_statements.jsonl",
        "deliveries.jsonl",
        "skills.jsonl",
        "identity.json",
        *(name for name in files if name.startswith("documents/")),
    }
    assert len([name for name in files if name.startswith("documents/")]) == 4


def test_an_agent_export_covers_that_identifier_and_the_identity_links_it_resolves_to(people, tmp_path):
    files = export_command(tmp_path, "--agent", json.dumps({"mbox": "mailto:ada@example.com"}))
    # The account is another identifier: only the employee export (every identifier) includes it.
    assert {s["id"] for s in lines(files["statements.jsonl"])} == {people["actor"], people["member"]}
    assert json.loads(files["manifest.json"])["counts"]["documents"] == 1
    assert {link["employee_id"] for link in json.loads(files["identity.json"])["links"]} == {"E1"}


@pytest.mark.parametrize(
    "args",
    [
        ("--agent", '{"mbox": "mailto:nobody@example.com"}'),
        ("--employee-id", "E404"),
        ("--agent", '{"name": "no identifier"}'),
        ("--agent", "not json"),
    ],
)
def test_the_command_fails_clearly_for_a_person_it_cannot_find(args, tmp_path):
    with pytest.raises(CommandError) as failure:
        call_command("export_actor", *args, "--output", str(tmp_path / "x.zip"), "--no-progress")
    assert str(failure.value)
    assert not (tmp_path / "x.zip").exists()


def test_an_export_of_thousands_of_statements_reads_them_a_page_at_a_time_in_bounded_memory(
    monkeypatch, tmp_path
):
    for _ in range(10):
        statement_store(statements=[statement(ADA) for _ in range(500)], credential=None)
    subject = subject_for(agent=ADA)
    pages: list[int] = []

    def spy(pks: list[int], **kwargs):
        pages.append(len(pks))
        return statements_by_pk(pks, **kwargs)

    monkeypatch.setattr(export_module, "statements_by_pk", spy)
    tracemalloc.start()
    try:
        export = SubjectExport(subject)
        with (tmp_path / "big.zip").open("wb") as out:
            for chunk in export.chunks():
                out.write(chunk)
        _current, export_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        everything = statements_by_pk(list(Statement.objects.values_list("id", flat=True)))
        all_at_once = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()

    assert len(everything) == 5000
    assert pages == [500] * 10
    assert export.manifest is not None and export.manifest["counts"]["statements"] == 5000
    assert len(lines(read_zip((tmp_path / "big.zip").read_bytes())["statements.jsonl"])) == 5000
    # Holding every statement at once costs several times what the whole export peaks at.
    assert export_peak < all_at_once / 3, (export_peak, all_at_once)


def test_the_admin_export_needs_view_permission_on_every_kind_of_record_it_holds(people, client):
    """The ZIP holds statements, documents, deliveries and their attempts, identity links, the
    employee record and identity history, and skill records: a user who may not view one of
    those may not export it either."""
    from django.contrib.auth.models import Permission

    url = "/admin/adapters/retentionrun/export/"
    clerk = get_user_model().objects.create_user("clerk", "clerk@example.com", "pw-for-tests", is_staff=True)
    needed = [
        ("lrs", "view_statement"),
        ("lrs", "view_document"),
        ("adapters", "view_delivery"),
        ("adapters", "view_attempt"),
        ("adapters", "view_identitylink"),
        ("adapters", "view_employee"),
        ("adapters", "view_identitychange"),
        ("adapters", "view_skillrecord"),
    ]
    for app_label, codename in needed:
        clerk.user_permissions.set(
            Permission.objects.get(content_type__app_label=a, codename=c) for a, c in needed if c != codename
        )
        clerk = get_user_model().objects.get(pk=clerk.pk)  # permissions are cached per instance
        client.force_login(clerk)
        assert client.get(url).status_code == 403, f"exported without {app_label}.{codename}"
    clerk.user_permissions.set(
        Permission.objects.get(content_type__app_label=a, codename=c) for a, c in needed
    )
    client.force_login(get_user_model().objects.get(pk=clerk.pk))
    assert client.get(url).status_code == 200


def test_the_admin_streams_a_persons_zip_to_whoever_may_read_all_their_records(people, client):
    url = "/admin/adapters/retentionrun/export/"
    staff = get_user_model().objects.create_user("clerk", "clerk@example.com", "pw-for-tests", is_staff=True)
    client.force_login(staff)
    assert client.get(url).status_code == 403
    client.force_login(get_user_model().objects.create_superuser("dpo", "dpo@example.com", "pw-for-tests"))
    assert b"Export a person" in client.get("/admin/adapters/retentionrun/").content
    assert client.get(url).status_code == 200

    response = client.post(url, {"agent": "", "employee_id": "E1"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="subject-export-')
    files = read_zip(b"".join(response.streaming_content))
    assert json.loads(files["manifest.json"])["counts"]["statements"] == 3

    unknown = client.post(url, {"agent": '{"mbox": "mailto:nobody@example.com"}', "employee_id": ""})
    assert unknown.status_code == 200 and not unknown.streaming
    assert b"no statement, document or identity link names this person" in unknown.content
