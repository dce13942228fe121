"""``manage.py reconcile`` in-process: ``--dry-run`` compares but stores no run and judges no alert,
and with ``--repair`` counts what it would send without sending it; the progress bar counts every
statement of the window it reads (those the filter leaves out too) up to its total."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from adapters.models import Alert, Delivery, ReconciliationRun
from lrs.statements.store import statement_store
from tests.adapters.management.conftest import database, deliveries_of
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db


def reconcile(*args: str, target: str = "hook") -> tuple[str, str, int]:
    """The command over the last hour: its stdout, stderr and exit status (1: drift above the limit)."""
    now = timezone.now()
    since, until = (now - timedelta(hours=1)).isoformat(), (now + timedelta(minutes=5)).isoformat()
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(
            "reconcile", "--target", target, "--since", since, "--until", until, *args, stdout=out, stderr=err
        )
        status = 0
    except SystemExit as exit_status:
        status = int(exit_status.code or 0)
    return out.getvalue(), err.getvalue(), status


def one_of_three_dead(target) -> int:
    ids = deliveries_of(target, 3, status=Delivery.DELIVERED)
    Delivery.objects.filter(pk=ids[0]).update(status=Delivery.DEAD)
    return ids[0]


def test_a_dry_run_repair_counts_what_it_would_send_and_changes_nothing(hook_target):
    dead = one_of_three_dead(hook_target)
    before = database()

    out, _, status = reconcile("--repair", "--dry-run", "--json", "--no-progress")

    assert database() == before  # no run stored, no alert judged, nothing queued again
    assert not ReconciliationRun.objects.exists() and not Alert.objects.exists()
    assert Delivery.objects.get(pk=dead).status == Delivery.DEAD
    figures = json.loads(out)
    assert (figures["expected"], figures["delivered"], figures["missing"]) == (3, 2, 1)
    assert (figures["would_repair"], figures["dry_run"], figures["run"]) == (1, True, None)
    assert "repaired" not in figures
    assert status == 1  # the drift is what it is, dry run or not


def test_a_real_repair_queues_what_the_dry_run_counted(hook_target):
    dead = one_of_three_dead(hook_target)
    out, _, status = reconcile("--repair", "--json", "--no-progress")
    figures = json.loads(out)
    assert (figures["repaired"], status) == (1, 1)
    assert ReconciliationRun.objects.get().pk == figures["run"]
    assert Delivery.objects.get(pk=dead).status == Delivery.PENDING


def test_the_progress_bar_counts_every_statement_of_the_window_up_to_its_total(hook_target):
    deliveries_of(hook_target, 3, status=Delivery.DELIVERED)
    experienced = "http://adlnet.gov/expapi/verbs/experienced"  # not taken by the default filter
    statement_store(statements=[make_statement(verb=experienced) for _ in range(2)], credential=None)

    out, err, status = reconcile()

    final = err.split("\r")[-1]
    line = r"reconcile hook: 100%.*5(\.00)?/5(\.00)? \[\d\d:\d\d<\d\d:\d\d, .*stmt/s\]"
    assert re.search(line, final), final
    assert status == 0 and out.startswith(f"run: {ReconciliationRun.objects.get().pk}, target: hook,")


def test_an_unknown_target_exits_2_naming_it(db):
    with pytest.raises(CommandError, match="no target named 'nope'") as error:
        reconcile("--dry-run", target="nope")
    assert error.value.returncode == 2


def test_a_dry_run_repair_of_a_record_level_target_rewrites_nothing_even_when_commits_run(
    market_target, django_capture_on_commit_callbacks
):
    course = "https://lms.example.com/courses/safety-101"
    completion = make_statement(activity=course, result={"completion": True, "score": {"scaled": 0.95}})
    with django_capture_on_commit_callbacks(execute=True):
        statement_store(statements=[completion], credential=None)
    market_target.alter_skill("E100", "SAFETY-BASICS", level=1)
    before = database()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        out, err, status = reconcile("--repair", "--dry-run", "--json", target="market")

    assert database() == before and callbacks == []  # the repair's sends were rolled back with it
    assert market_target.skills()[("E100", "SAFETY-BASICS")]["level"] == 1
    figures = json.loads(out)
    assert (figures["different"], figures["would_repair"], status) == (1, 1, 1)
    assert re.search(r"reconcile market \(dry run\): 1(\.00)?record \[", err.split("\r")[-1]), err
