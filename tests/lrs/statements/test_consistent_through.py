"""``X-Experience-API-Consistent-Through`` stays honest while a batch is being written.

A batch takes its ``stored`` time when its transaction starts; until it commits,
no reader may be told that everything up to a later time is visible.
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#213-get-statements
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from django.db import connection, transaction

from lrs.statements import store
from lrs.statements.models import Statement
from lrs.statements.selectors import consistent_through
from lrs.statements.signals import statements_stored
from lrs.statements.store import statement_store
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite's reader waits for the writer instead")
def test_consistent_through_stays_before_the_stored_time_of_an_uncommitted_batch():
    stored_at: list = []
    started = threading.Event()
    release = threading.Event()

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                stored_at.append(store._prelude([], [], look_up_ids=True).stored)
                started.set()
                release.wait(10)
        finally:
            connection.close()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    try:
        assert started.wait(10)
        assert consistent_through() <= stored_at[0]
    finally:
        release.set()
        writer.join()
    assert consistent_through() > stored_at[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite's reader waits for the writer instead")
def test_a_reader_inside_a_transaction_sees_writers_that_began_or_ended_since_its_last_read():
    """PostgreSQL keeps what a transaction read of ``pg_stat_activity`` until it ends: a caller
    asking again inside one transaction (a backfill's walk, ``adapters.delivery.replay._walk``,
    run in an atomic block or a test's transaction) was told of the writers of its first read.
    A writer begun since went unseen (the cut passed its uncommitted ``stored``: the walk skipped
    its statements for good); one ended since held the cut back for ever (the walk never ended)."""
    stored_at: list = []
    started, release = threading.Event(), threading.Event()

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                stored_at.append(store._prelude([], [], look_up_ids=True).stored)
                started.set()
                release.wait(10)
        finally:
            connection.close()

    with transaction.atomic():
        consistent_through()  # no writer yet
        writer = threading.Thread(target=slow_writer)
        writer.start()
        try:
            assert started.wait(10)
            assert consistent_through() <= stored_at[0], "a writer begun since was not seen"
        finally:
            release.set()
            writer.join()
        assert consistent_through() > stored_at[0], "a writer ended since still held the cut back"


def test_a_reader_sees_every_statement_stored_up_to_the_consistent_through_it_was_given():
    """Whatever the database: a reader told everything up to T is visible finds every statement
    with ``stored`` up to T, even one whose batch was still being written when it asked."""
    reader_sees_every_statement_up_to_what_it_was_told()


def reader_sees_every_statement_up_to_what_it_was_told() -> None:
    """A batch holds its transaction open (inside it, on ``statements_stored``); a reader asks for
    Consistent-Through meanwhile, then reads the statements stored up to it."""
    in_transaction, release = threading.Event(), threading.Event()
    told: list = []
    seen: set[str] = set()
    statement = {**make_statement(), "id": str(uuid.uuid4())}

    def hold(**_kwargs) -> None:
        in_transaction.set()
        release.wait(10)

    def writer() -> None:
        try:
            statement_store(statements=[statement], credential=None)
        finally:
            connection.close()

    def reader() -> None:
        try:
            told.append(consistent_through())
            rows = Statement.objects.filter(stored__lte=told[0]).values_list("statement_id", flat=True)
            seen.update(str(statement_id) for statement_id in rows)
        finally:
            connection.close()

    statements_stored.connect(hold)
    try:
        writing = threading.Thread(target=writer)
        writing.start()
        assert in_transaction.wait(10)
        statements_stored.disconnect(hold)
        reading = threading.Thread(target=reader)
        reading.start()
        reading.join(0.5)  # it may wait for the write to end (SQLite), or answer at once
        release.set()
        writing.join(10)
        reading.join(10)
    finally:
        statements_stored.disconnect(hold)
        release.set()
    stored = Statement.objects.get(statement_id=statement["id"]).stored
    assert told, "the reader failed"
    assert stored > told[0] or statement["id"] in seen, (stored, told)


@pytest.mark.sqlite
def test_a_reader_sees_every_statement_stored_up_to_the_consistent_through_it_was_given_on_sqlite(tmp_path):
    """The same, on the quickstart's embedded database: a file, as it runs (pytest-django's
    SQLite test database is in memory, where readers meet table locks a file never has)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env.update(LRS_ENV="test", DATABASE_URL=f"sqlite:///{tmp_path / 'lrs.sqlite3'}")
    script = (
        "import django; django.setup(); from django.core.management import call_command; "
        "call_command('migrate', verbosity=0); "
        "from tests.lrs.statements import test_consistent_through as t; "
        "t.reader_sees_every_statement_up_to_what_it_was_told()"
    )
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="only PostgreSQL reads the open writers")
def test_a_long_write_that_stores_no_statement_does_not_hold_consistent_through_back():
    """Only transactions storing statements can commit one with an earlier ``stored``. Another
    write held open (an erasure, a retention run, a worker's claim, an admin's edit) must not hold
    ascending pages back for as long as it runs."""
    started, release = threading.Event(), threading.Event()
    began: list = []

    def other_writer() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_current_xact_id(), clock_timestamp()")  # holds a transaction id
                began.append(cursor.fetchone()[1])
                started.set()
                release.wait(10)
        finally:
            connection.close()

    writer = threading.Thread(target=other_writer)
    writer.start()
    try:
        assert started.wait(10)
        assert consistent_through() > began[0]
    finally:
        release.set()
        writer.join()
