"""A backfill reads the stored range once, page by page, keeps a checkpoint per page, and resumes
after the last committed page when stopped: in-process (an exception mid-run) and as a real
``manage.py deliveries_backfill`` killed with SIGKILL (``adapters/delivery/replay.py``)."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from adapters.delivery.replay import backfill, backfill_run_for
from adapters.models import BackfillRun, Delivery, Target
from lrs.statements.store import statement_store
from tests.adapters.helpers import wait_until
from tests.conftest import make_statement

ROOT = Path(__file__).resolve().parents[3]


class Stop(Exception):
    """Stands for Ctrl-C or a lost database connection in the middle of a run."""


def late_target() -> Target:
    return Target.objects.create(
        name="late", adapter="webhook", config={"url": "http://127.0.0.1:9/hook", "secret": "s"}
    )


def store(count: int) -> None:
    statement_store(statements=[make_statement() for _ in range(count)], credential=None)


def stop_after_pages(pages: int):
    seen = []

    def progress(read: int) -> None:
        seen.append(read)
        if len(seen) == pages:
            raise Stop

    return progress


@pytest.mark.django_db
def test_a_stopped_backfill_resumes_after_its_last_page_and_creates_nothing_twice(
    django_capture_on_commit_callbacks,
):
    store(7)
    target = late_target()
    run = backfill_run_for(target=target, since=None, until=None, force=False)
    with pytest.raises(Stop):
        backfill(target=target, run=run, page_size=2, progress=stop_after_pages(2))
    run.refresh_from_db()
    assert (run.scanned, run.finished_at) == (4, None)
    assert Delivery.objects.filter(target=target).count() == 4

    resumed = backfill_run_for(target=target, since=None, until=None, force=False)
    assert resumed.pk == run.pk
    pages: list[int] = []
    counts = backfill(target=target, run=resumed, page_size=2, progress=pages.append)

    assert pages == [2, 1]  # only the statements after the checkpoint were read again
    assert counts == {"matched": 7, "created": 7, "requeued": 0, "skipped": 0}
    resumed.refresh_from_db()
    assert resumed.scanned == 7 and resumed.finished_at is not None
    assert Delivery.objects.filter(target=target).count() == 7
    assert Delivery.objects.filter(target=target).values("statement_id").distinct().count() == 7


@pytest.mark.django_db
def test_a_restart_reads_everything_again_and_still_creates_nothing_twice(django_capture_on_commit_callbacks):
    store(5)
    target = late_target()
    run = backfill_run_for(target=target, since=None, until=None, force=False)
    with pytest.raises(Stop):
        backfill(target=target, run=run, page_size=2, progress=stop_after_pages(1))

    fresh = backfill_run_for(target=target, since=None, until=None, force=False, restart=True)
    counts = backfill(target=target, run=fresh, page_size=2)

    assert fresh.pk != run.pk
    run.refresh_from_db()
    assert run.finished_at is not None  # closed by the restart: never resumed later
    assert counts == {"matched": 5, "created": 3, "requeued": 0, "skipped": 2}
    assert Delivery.objects.filter(target=target).count() == 5


@pytest.mark.django_db
def test_a_finished_backfill_is_not_resumed_a_new_run_starts(django_capture_on_commit_callbacks):
    store(3)
    target = late_target()
    first = backfill(target=target)
    second_run = backfill_run_for(target=target, since=None, until=None, force=False)
    second = backfill(target=target, run=second_run)
    assert first == {"matched": 3, "created": 3, "requeued": 0, "skipped": 0}
    assert second == {"matched": 3, "created": 0, "requeued": 0, "skipped": 3}
    assert BackfillRun.objects.filter(target=target).count() == 2


@pytest.mark.django_db
def test_a_statement_stored_with_infinity_and_a_huge_integer_is_backfilled_too(
    django_capture_on_commit_callbacks,
):
    # Before number ranges were checked (rule number-range), 1e400 beside an integer beyond 64 bits
    # was stored as the text Infinity, which orjson refuses: the backfill stopped on that page, and
    # every resume with it. Such rows stay in stores that ran the older code.
    store(3)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE lrs_statement SET payload = replace(payload, '\"verb\"', "
            '\'"extra":[Infinity,123456789012345678901234567890],"verb"\') '
            "WHERE id = (SELECT min(id) FROM lrs_statement)"
        )
    target = late_target()
    assert backfill(target=target) == {"matched": 3, "created": 3, "requeued": 0, "skipped": 0}


@pytest.mark.django_db
def test_the_command_shows_count_rate_and_eta_and_says_when_it_resumes(django_capture_on_commit_callbacks):
    store(6)
    target = late_target()
    run = backfill_run_for(target=target, since=None, until=None, force=False)
    with pytest.raises(Stop):
        backfill(target=target, run=run, page_size=2, progress=stop_after_pages(1))

    out, err = io.StringIO(), io.StringIO()
    call_command("deliveries_backfill", "late", stdout=out, stderr=err)

    assert f"resuming backfill #{run.pk} after 2 statements" in err.getvalue()
    final = err.getvalue().split("\r")[-1]
    # tqdm's line: "backfill late: 100%|...| 6.00/6.00 [00:00<00:00, 1.2kstmt/s]"
    line = r"backfill late: 100%.*6(\.00)?/6(\.00)? \[\d\d:\d\d<\d\d:\d\d, .*stmt/s\]"
    assert re.search(line, final), final
    assert out.getvalue().strip() == "matched: 6, created: 6, requeued: 0, skipped: 0"


@pytest.mark.django_db(transaction=True)
def test_a_killed_backfill_command_resumes_and_every_statement_gets_one_delivery(broker, tmp_path):
    store(3000)
    target = late_target()
    settings_dict = connection.settings_dict
    env = {
        **os.environ,
        "LRS_ENV": "test",
        "DATABASE_URL": f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT']}/"
        f"{settings_dict['NAME']}",
        "CELERY_BROKER_URL": broker,  # the drain requests go to a broker no worker reads: nothing is sent
        "LRS_STATEMENTS_MAX_PAGE_SIZE": "50",  # 60 pages: time to kill it in the middle
    }
    command = [sys.executable, "manage.py", "deliveries_backfill", "late"]
    killed = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(
            lambda: BackfillRun.objects.filter(target=target, scanned__gte=500).exists(),
            timeout=60,
            interval=0.01,
            message="the backfill to commit ten pages",
        )
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.communicate()
    stopped_at = BackfillRun.objects.get(target=target).scanned
    assert stopped_at < 3000, "it finished before the kill: nothing was shown"

    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert re.search(rf"resuming backfill #\d+ after {stopped_at:,} statements", done.stderr), done.stderr
    created = int(re.search(r"created: (\d+)", done.stdout).group(1))
    assert created == 3000  # the counts carried over the kill: the two runs created them all
    assert Delivery.objects.filter(target=target).count() == 3000
    assert Delivery.objects.filter(target=target).values("statement_id").distinct().count() == 3000
