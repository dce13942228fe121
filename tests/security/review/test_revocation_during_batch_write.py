"""A credential revoked while one of its batches is being written, the revocation committing before
the batch, stores nothing of the batch: the batch is answered 401.

The general write path (``lrs.statements.store._store``) checked the credential after its prelude
(``ensure_current``), then wrote, then committed. A write that waits in between (here on a lock
another transaction holds on an index table, as an erasure or a concurrent batch may) committed
after the revocation had: an operator who had just revoked a leaked key saw statements stored under
it afterwards. The check is made again as the last statement before the commit."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest
from django.db import connection

from lrs.credentials.models import Credential
from lrs.credentials.services import credential_upsert
from lrs.statements.models import Statement, StatementAgent
from tests.conftest import XAPIClient, make_statement

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "the-right-secret-0123456789"


def _other_connection() -> psycopg.Connection:
    settings = connection.settings_dict
    return psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
    )


def _waiting_for_a_lock(watcher: psycopg.Connection) -> bool:
    with watcher.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = %s",
            [connection.settings_dict["NAME"]],
        )
        return cursor.fetchone()[0] > 0


def test_a_batch_that_commits_after_its_credential_was_revoked_stores_nothing():
    credential_upsert(name="lms", scopes=["all"], key="lms-key", secret=SECRET)
    xapi = XAPIClient(Credential.objects.get(key="lms-key"), SECRET)
    batch = [make_statement(statement_id=str(uuid.uuid4())) for _ in range(2)]
    answers: list[int] = []

    locker, watcher = _other_connection(), _other_connection()
    watcher.autocommit = True
    try:
        with locker.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {StatementAgent._meta.db_table} IN EXCLUSIVE MODE")

        def write() -> None:
            try:
                answers.append(xapi.post_json("/xapi/statements", batch).status_code)
            finally:
                connection.close()  # this thread's own

        writer = threading.Thread(target=write)
        writer.start()
        deadline = time.monotonic() + 20
        while not _waiting_for_a_lock(watcher):  # the batch has passed its check and waits to write
            assert time.monotonic() < deadline, "the batch never waited for the lock"
            time.sleep(0.02)
        with watcher.cursor() as cursor:  # the revocation, committed (as another process would)
            table = Credential._meta.db_table
            cursor.execute(f"UPDATE {table} SET is_active = false, updated_at = now() WHERE key = 'lms-key'")
        locker.rollback()
        writer.join(timeout=30)
    finally:
        locker.close()
        watcher.close()
    stored = Statement.objects.filter(statement_id__in=[s["id"] for s in batch]).count()
    assert (answers, stored) == ([401], 0), "the batch was stored after its credential was revoked"
