"""The quickstart's SQLite database: a reader holding its snapshot (a subject export's
``read_snapshot`` for the export's length, a GET's query) does not hold a writer back. With the
rollback journal a writer's commit waits for every reader to end (up to the 20 s busy timeout);
in WAL mode it does not (https://www.sqlite.org/wal.html, "Readers do not block writers")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# How long the reader holds its snapshot at most, and how long a write may take beside it.
READER_HOLDS_SECONDS = 10
WRITE_WITHIN_SECONDS = 2


def a_statement_posted_beside_an_open_snapshot_commits_at_once() -> None:
    """Run in a process of its own on a migrated SQLite file (see the test below)."""
    from django.db import connection

    from adapters.privacy.export import read_snapshot
    from lrs.credentials.services import credential_upsert
    from lrs.statements.models import Statement
    from tests.conftest import XAPIClient, make_statement

    credential = credential_upsert(name="lms", scopes=["all"], key="lms", secret="lms-secret").credential
    first = make_statement(statement_id=str(uuid.uuid4()))
    lms = XAPIClient(credential, "lms-secret")
    assert lms.post_statements([first]).status_code == 200
    snapshot_open, release = threading.Event(), threading.Event()
    seen: dict[str, int] = {}

    def export_reader() -> None:
        try:
            with read_snapshot():
                seen["before"] = Statement.objects.count()
                snapshot_open.set()
                release.wait(READER_HOLDS_SECONDS)
                seen["after"] = Statement.objects.count()
        finally:
            connection.close()

    reader = threading.Thread(target=export_reader)
    reader.start()
    try:
        assert snapshot_open.wait(10)
        started = time.monotonic()
        response = lms.post_statements([make_statement(statement_id=str(uuid.uuid4()))])
        took = time.monotonic() - started
    finally:
        release.set()
        reader.join(30)
    assert response.status_code == 200, response.content
    assert took < WRITE_WITHIN_SECONDS, f"the POST waited {took:.1f} s for the reader's snapshot"
    assert seen == {"before": 1, "after": 1}, seen  # the reader kept its snapshot meanwhile
    print(json.dumps({"took": took}))


@pytest.mark.sqlite
def test_a_statement_post_commits_while_an_export_holds_its_read_snapshot_on_sqlite(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env.update(
        LRS_ENV="test",
        DATABASE_URL=f"sqlite:///{tmp_path / 'lrs.sqlite3'}",  # a file, as the quickstart runs
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    script = (
        "import django; django.setup(); from django.core.management import call_command; "
        "call_command('migrate', verbosity=0); "
        "from tests import test_sqlite_readers as t; "
        "t.a_statement_posted_beside_an_open_snapshot_commits_at_once()"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
