"""A subject export reads one consistent snapshot: a statement voided while the export runs is in
``statements.jsonl`` or in ``voided_statements.jsonl``, as it stood when the export began, never
in both and never in neither (the two files are read by separate queries); the progress bar's
total is counted in that snapshot too."""

from __future__ import annotations

import contextlib
import io
import json
import threading
import uuid
import zipfile
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.db import connection, connections

from adapters.management.cli import progress_bar
from adapters.management.commands import export_actor
from adapters.privacy import export as export_module
from adapters.privacy.export import SubjectExport
from adapters.privacy.subjects import subject_for
from lrs.statements.models import Statement
from lrs.statements.selectors import statements_by_pk
from lrs.statements.store import statement_store
from tests.adapters.helpers import voiding
from tests.conftest import make_statement

ADA = "ada@example.com"

POSTGRESQL_ONLY = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="a second connection writing meanwhile: PostgreSQL in tests"
)


def _void_from_another_connection(statement_id: str) -> None:
    """Store a statement voiding ``statement_id`` in a thread of its own (its own connection),
    committed before this returns."""
    failure: list[BaseException] = []

    def void() -> None:
        try:
            bobs = voiding(statement_id, actor_email="bob@example.com")
            statement_store(statements=[bobs], credential=None)
        except BaseException as error:  # reported below
            failure.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=void)
    thread.start()
    thread.join(30)
    assert not thread.is_alive() and not failure, failure


def _ids(data: bytes) -> list[str]:
    return [json.loads(line)["id"] for line in data.decode().splitlines()]


@POSTGRESQL_ONLY
@pytest.mark.django_db(transaction=True)
def test_a_statement_voided_while_the_export_runs_is_in_exactly_one_statement_file(monkeypatch):
    mine = [make_statement(actor_email=ADA, statement_id=str(uuid.uuid4())) for _ in range(3)]
    statement_store(statements=mine, credential=None)
    victim = mine[1]["id"]
    reads: list[int] = []

    def void_after_the_first_read(pks: list[int], **kwargs):
        found = statements_by_pk(pks, **kwargs)
        reads.append(len(pks))
        if len(reads) == 1:  # the live statements are read: a void commits before the voided ones are
            _void_from_another_connection(victim)
        return found

    monkeypatch.setattr(export_module, "statements_by_pk", void_after_the_first_read)
    export = SubjectExport(subject_for(agent={"mbox": f"mailto:{ADA}"}))
    with zipfile.ZipFile(io.BytesIO(b"".join(export.chunks()))) as archive:
        live = _ids(archive.read("statements.jsonl"))
        voided = _ids(archive.read("voided_statements.jsonl"))

    assert Statement.objects.get(statement_id=victim).voided  # the void did commit meanwhile
    assert sorted(live + voided) == sorted(body["id"] for body in mine), (live, voided)
    assert voided == []  # as it stood when the export began
    assert export.manifest is not None
    assert (export.manifest["counts"]["statements"], export.manifest["counts"]["voided_statements"]) == (3, 0)


@pytest.mark.django_db(transaction=True)
def test_the_progress_total_is_the_number_of_statements_exported_when_one_is_stored_just_before(
    monkeypatch, tmp_path
):
    """A statement naming the person commits after ``manage.py export_actor`` starts and before the
    export's snapshot does: it is exported, and the bar's total must count it (a bar ending at 3/2
    tells the operator the export ran past its end)."""
    statement_store(
        statements=[make_statement(actor_email=ADA, statement_id=str(uuid.uuid4())) for _ in range(2)],
        credential=None,
    )
    snapshot = export_module.read_snapshot

    @contextlib.contextmanager
    def one_stored_just_before() -> Iterator[None]:
        statement_store(
            statements=[make_statement(actor_email=ADA, statement_id=str(uuid.uuid4()))], credential=None
        )
        with snapshot():
            yield

    bars: list = []

    def recorded_bar(*args, **kwargs):
        bars.append(progress_bar(*args, **kwargs))
        return bars[-1]

    monkeypatch.setattr(export_module, "read_snapshot", one_stored_just_before)
    monkeypatch.setattr(export_actor, "progress_bar", recorded_bar)
    output = tmp_path / "export.zip"
    agent = json.dumps({"mbox": f"mailto:{ADA}"})
    call_command(
        "export_actor", "--agent", agent, "--output", str(output), stdout=io.StringIO(), stderr=io.StringIO()
    )

    with zipfile.ZipFile(output) as archive:
        exported = len(_ids(archive.read("statements.jsonl")))
    assert exported == 3
    assert (bars[0].n, bars[0].total) == (exported, exported)
