"""``manage.py deliveries_backfill --dry-run`` counts what a backfill would do (the same counts the
real run then reports) and changes nothing, not even a stopped run's checkpoint; an empty window is
nothing to do; an unknown target exits 1."""

from __future__ import annotations

import pytest
from django.core.management import CommandError

from adapters.delivery.replay import backfill, backfill_run_for
from adapters.models import BackfillRun, Delivery, Target
from lrs.statements.store import statement_store
from tests.adapters.management.conftest import database, run
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db


class Stop(Exception):
    """Stands for Ctrl-C in the middle of a run."""


def late_target() -> Target:
    return Target.objects.create(
        name="late", adapter="webhook", config={"url": "http://127.0.0.1:9/hook", "secret": "s"}
    )


def store(count: int) -> None:
    statement_store(statements=[make_statement() for _ in range(count)], credential=None)


def test_a_dry_run_reports_the_counts_of_the_real_run_and_changes_nothing():
    store(5)
    late_target()
    before = database()

    dry, _ = run("deliveries_backfill", "late", "--dry-run", "--no-progress")

    assert database() == before
    assert dry.strip() == "matched: 5, created: 5, requeued: 0, skipped: 0 (dry run, nothing changed)"
    real, _ = run("deliveries_backfill", "late", "--no-progress")
    assert real.strip() == "matched: 5, created: 5, requeued: 0, skipped: 0"
    assert Delivery.objects.filter(target__name="late").count() == 5


def test_a_forced_dry_run_counts_what_would_be_sent_again_and_sends_nothing():
    store(3)
    target = late_target()
    backfill(target=target)
    Delivery.objects.filter(target=target).update(status=Delivery.DEAD)
    before = database()

    out, _ = run("deliveries_backfill", "late", "--force", "--dry-run", "--no-progress")

    assert database() == before
    assert out.startswith("matched: 3, created: 0, requeued: 3, skipped: 0 (dry run")


def test_a_dry_run_of_a_stopped_run_says_it_would_resume_and_leaves_its_checkpoint(
    django_capture_on_commit_callbacks,
):
    store(6)
    target = late_target()
    stopped = backfill_run_for(target=target, since=None, until=None, force=False)

    def stop_after_one_page(read: int) -> None:
        raise Stop

    with pytest.raises(Stop):
        backfill(target=target, run=stopped, page_size=2, progress=stop_after_one_page)
    before = database()

    out, err = run("deliveries_backfill", "late", "--dry-run")

    assert database() == before
    assert f"would resume backfill #{stopped.pk} after 2 statements" in err
    assert "backfill late (dry run): 100%" in err.split("\r")[-1]
    assert out.startswith("matched: 6, created: 6,")  # the 2 already done and the 4 it would do
    assert BackfillRun.objects.get().scanned == 2


def test_a_window_with_nothing_for_the_target_is_nothing_to_do():
    store(2)
    late_target()
    out, _ = run("deliveries_backfill", "late", "--since", "2999-01-01T00:00:00Z", "--no-progress")
    assert out.strip() == "nothing to do: no statement stored in the window goes to late"


def test_an_unknown_target_exits_1_naming_it():
    with pytest.raises(CommandError, match="no target named 'nope'"):
        run("deliveries_backfill", "nope", "--dry-run")
