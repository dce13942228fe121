"""``StatementAttachment``: which stored statements name which attachment hash (their own
attachments and their SubStatement's), written with the statement on every write path, and what
erasure and retention read to decide whether shared attachment bytes may go: without a scan of
every statement's text, and never from under a statement being stored at the same moment.
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#2411-attachments
"""

from __future__ import annotations

import hashlib
import io
import uuid

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lrs.attachment_store import AttachmentContent, attachment_store
from lrs.statements.erasure import delete_statements, pseudonymise_statements
from lrs.statements.models import Statement, StatementAttachment
from lrs.statements.store import statement_store
from lrs.xapi.multipart import AttachmentPart
from tests.conftest import make_statement
from tests.lrs.statements.races import race

SIGNATURE = "http://adlnet.gov/expapi/attachments/signature"

pytestmark = pytest.mark.usefixtures("empty_statement_caches")


def attachment(data: bytes, *, file_url: bool = False, usage: str = "http://example.com/certificate") -> dict:
    described = {
        "usageType": usage,
        "display": {"en-US": "certificate"},
        "contentType": "text/plain",
        "length": len(data),
        "sha2": hashlib.sha256(data).hexdigest(),
    }
    if file_url:
        described["fileUrl"] = "https://files.example.com/certificate.txt"
    return described


def part(data: bytes) -> AttachmentPart:
    return AttachmentPart(sha2=hashlib.sha256(data).hexdigest(), content_type="text/plain", data=data)


def with_attachments(*described: dict) -> dict:
    return {**make_statement(statement_id=str(uuid.uuid4())), "attachments": list(described)}


def references(statement_id: str) -> list[str]:
    pk = Statement.objects.get(statement_id=statement_id).pk
    return sorted(StatementAttachment.objects.filter(statement_id=pk).values_list("sha2", flat=True))


def pk_of(statement_id: str) -> int:
    return Statement.objects.get(statement_id=statement_id).pk


@pytest.mark.django_db
@pytest.mark.parametrize("count", [1, 3, 20], ids=["single", "small-batch", "copy-batch"])
def test_every_write_path_records_the_hashes_a_statement_names(count):
    # Warm: the single statement then takes the one-SQL fast path (a fileUrl needs no part).
    for _ in range(2):  # the first creates the activity, the second reads it and fills the id pool
        statement_store(statements=[make_statement()], credential=None)
    statements = [with_attachments(attachment(f"own {i}".encode(), file_url=True)) for i in range(count)]
    statements.append(make_statement(statement_id=str(uuid.uuid4())))  # none: no row
    with CaptureQueriesContext(connection) as captured:
        statement_store(statements=statements[:count], credential=None)
    if count == 1:  # the one-SQL fast path took it
        assert [q["sql"][:22] for q in captured.captured_queries if "INSERT" in q["sql"]] == [
            "WITH x AS MATERIALIZED"
        ]
    statement_store(statements=statements[count:], credential=None)
    for index, statement in enumerate(statements[:-1]):
        assert references(statement["id"]) == [hashlib.sha256(f"own {index}".encode()).hexdigest()]
    assert references(statements[-1]["id"]) == []


@pytest.mark.django_db
def test_a_substatements_attachments_are_recorded_with_the_statements_own():
    own, inner = attachment(b"own", file_url=True), attachment(b"inner", file_url=True)
    statement = with_attachments(own, own)  # the same hash twice: one row
    statement["object"] = {
        "objectType": "SubStatement",
        "actor": {"mbox": "mailto:planner@example.com"},
        "verb": {"id": "http://example.com/verbs/planned"},
        "object": {"id": "http://example.com/courses/next"},
        "attachments": [inner],
    }
    statement_store(statements=[statement], credential=None)
    assert references(statement["id"]) == sorted([own["sha2"], inner["sha2"]])


@pytest.mark.django_db
def test_deleting_keeps_bytes_another_statement_names_and_reads_no_statement_text():
    shared, own = attachment(b"shared"), attachment(b"only the old one's")
    old = with_attachments(shared, own)
    statement_store(
        statements=[old], credential=None, attachments=[part(b"shared"), part(b"only the old one's")]
    )
    kept = with_attachments(shared)
    statement_store(statements=[kept], credential=None, attachments=[part(b"shared")])

    with CaptureQueriesContext(connection) as captured:
        counts = delete_statements([pk_of(old["id"])])

    assert counts["attachments"] == 1
    assert set(AttachmentContent.objects.values_list("sha2", flat=True)) == {shared["sha2"]}
    assert references(kept["id"]) == [shared["sha2"]]
    assert not StatementAttachment.objects.filter(sha2=own["sha2"]).exists()
    # Whether bytes are still named is read from the reference rows: no scan of statement text
    # (it was a LIKE '%<sha2>%' over every stored statement, once per hash).
    assert not [q["sql"] for q in captured.captured_queries if "LIKE" in q["sql"]]


@pytest.mark.django_db
def test_pseudonymising_drops_a_signature_with_its_reference_and_bytes():
    signature = attachment(b"signed by the learner", usage=SIGNATURE)
    signature["contentType"] = "application/octet-stream"
    statement = with_attachments(signature)
    # Stored directly: a real signature would need a JWS; the rewrite is what is under test.
    statement_store(
        statements=[{**statement, "attachments": [attachment(b"x", file_url=True)]}], credential=None
    )
    pk = pk_of(statement["id"])
    row = Statement.objects.get(pk=pk)
    payload = row.payload.replace(attachment(b"x", file_url=True)["sha2"], signature["sha2"]).replace(
        "http://example.com/certificate", SIGNATURE
    )
    Statement.objects.filter(pk=pk).update(payload=payload)
    StatementAttachment.objects.filter(statement_id=pk).update(sha2=signature["sha2"])
    attachment_store().put_many([part(b"signed by the learner")])

    changed = pseudonymise_statements(
        [pk],
        ["mbox::mailto:learner@example.com"],
        lambda ifi: {"homePage": "https://p.example", "name": "p1"},
    )

    assert changed == 1
    assert references(statement["id"]) == []
    assert not AttachmentContent.objects.exists()


@pytest.mark.django_db
def test_hashes_are_kept_in_lower_case_whatever_case_a_statement_writes_them_in(xapi):
    data = b"shared certificate"
    upper = attachment(data)
    upper["sha2"] = upper["sha2"].upper()
    first = with_attachments(upper)
    statement_store(statements=[first], credential=None, attachments=[part(data)])
    second = with_attachments(attachment(data))
    statement_store(statements=[second], credential=None, attachments=[part(data)])
    assert references(first["id"]) == references(second["id"]) == [hashlib.sha256(data).hexdigest()]

    delete_statements([pk_of(second["id"])])  # the first still names the bytes, in upper case

    served = xapi.get_statements(statementId=first["id"], attachments="true")
    assert served["Content-Type"].startswith("multipart/mixed") and data in served.content
    delete_statements([pk_of(first["id"])])
    assert not AttachmentContent.objects.exists()


@pytest.mark.django_db
def test_missing_references_are_filled_by_the_command_and_a_second_run_writes_none():
    statement = with_attachments(attachment(b"x", file_url=True))
    statement_store(statements=[statement], credential=None)
    StatementAttachment.objects.all().delete()  # as if stored by the release before 0008
    out = io.StringIO()
    call_command("fill_attachment_references", stdout=out)
    assert out.getvalue().strip() == "attachment references written: 1"
    assert references(statement["id"]) == [attachment(b"x")["sha2"]]
    call_command("fill_attachment_references", stdout=out)
    assert out.getvalue().strip().endswith("attachment references written: 0")


@pytest.mark.django_db(transaction=True)
def test_bytes_a_statement_is_being_stored_with_survive_an_erasure_that_checks_meanwhile():
    shared = attachment(b"the same certificate")
    old = with_attachments(shared)
    statement_store(statements=[old], credential=None, attachments=[part(b"the same certificate")])
    new = with_attachments(shared)
    # The new statement is written, not yet committed, when the erasure of the old one checks
    # whether anything still names the bytes.
    raced = race(
        lambda: statement_store(
            statements=[new], credential=None, attachments=[part(b"the same certificate")]
        ),
        lambda: delete_statements([pk_of(old["id"])]),
        lock_query="SELECT",
    )
    assert raced.first.error is None and raced.second.error is None
    assert not Statement.objects.filter(statement_id=old["id"]).exists()
    assert references(new["id"]) == [shared["sha2"]]
    # Before the lock, the erasure did not wait, saw no committed statement naming the bytes and
    # deleted them: the new statement was accepted and its attachment lost.
    assert shared["sha2"] in attachment_store().get_many([shared["sha2"]]), "the accepted attachment is lost"
    assert attachment_store().get_many([shared["sha2"]])[shared["sha2"]].data == b"the same certificate"
    assert raced.waited, "the erasure did not wait for the statement being stored"


@pytest.mark.django_db(transaction=True)
def test_a_statement_stored_while_an_erasure_deletes_its_bytes_writes_them_again():
    shared = attachment(b"the same certificate")
    old = with_attachments(shared)
    statement_store(statements=[old], credential=None, attachments=[part(b"the same certificate")])
    new = with_attachments(shared)
    # The erasure has deleted the bytes (nothing else named them), not yet committed, when the
    # new statement comes with the same attachment.
    raced = race(
        lambda: delete_statements([pk_of(old["id"])]),
        lambda: statement_store(
            statements=[new], credential=None, attachments=[part(b"the same certificate")]
        ),
        lock_query="INSERT",
    )
    assert raced.waited, "the statement did not wait for the erasure"
    assert raced.first.error is None and raced.second.error is None
    assert references(new["id"]) == [shared["sha2"]]
    assert attachment_store().get_many([shared["sha2"]])[shared["sha2"]].data == b"the same certificate"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first", ["store", "erase"])
def test_two_shared_hashes_sent_in_the_other_order_neither_deadlock_nor_go(first):
    # Rows are locked in hash order on both sides: a store sending B then A and an erasure of a
    # statement naming A and B never each hold one the other waits for.
    texts = sorted([b"first file", b"second file"], key=lambda data: hashlib.sha256(data).hexdigest())
    described = [attachment(data) for data in texts]
    old = with_attachments(*described)
    statement_store(statements=[old], credential=None, attachments=[part(data) for data in texts])
    new = with_attachments(*reversed(described))
    store = lambda: statement_store(  # noqa: E731
        statements=[new], credential=None, attachments=[part(data) for data in reversed(texts)]
    )
    erase = lambda: delete_statements([pk_of(old["id"])])  # noqa: E731
    raced = race(store if first == "store" else erase, erase if first == "store" else store)
    assert raced.waited, "the second transaction did not wait for the first"
    assert raced.first.error is None and raced.second.error is None
    kept = attachment_store().get_many([item["sha2"] for item in described])
    assert sorted(part.data for part in kept.values()) == sorted(texts)
