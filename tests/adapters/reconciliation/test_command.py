"""``manage.py reconcile`` end to end: a real worker delivers to the fake PMS, which silently loses
3 % of the events; the command (a real process) names them with exit 1, ``--repair`` has the
worker send them again, the next run exits 0, and a third ``--repair`` sends nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from adapters.models import Delivery, ReconciliationRun
from lrs.statements.store import statement_store
from tests.adapters.helpers import COURSE, wait_until
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[3]


def completion() -> dict:
    return make_statement(actor_email="learner@example.com", activity=COURSE, result={"completion": True})


def reconcile_command(broker: str, *args: str, target: str = "pms") -> subprocess.CompletedProcess[str]:
    db = connection.settings_dict
    env = {
        **os.environ,
        "LRS_ENV": "test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": broker,
    }
    now = timezone.now()
    window = [
        "--since",
        (now - timedelta(hours=1)).isoformat(),
        "--until",
        (now + timedelta(minutes=5)).isoformat(),
    ]
    return subprocess.run(
        [
            sys.executable,
            "manage.py",
            "reconcile",
            "--target",
            target,
            *window,
            "--json",
            "--no-progress",
            *args,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def all_delivered() -> bool:
    return not Delivery.objects.exclude(status=Delivery.DELIVERED).exists()


def test_drift_is_named_exit_1_repaired_by_the_worker_then_exit_0_and_nothing_more_to_send(
    pms_target, broker, celery_worker_process
):
    celery_worker_process(broker)
    pms_target.lose_every(33)
    statement_store(statements=[completion() for _ in range(100)], credential=None)
    wait_until(lambda: Delivery.objects.filter(status=Delivery.DELIVERED).count() == 100, timeout=60)
    lost = pms_target.lost_statement_ids()
    pms_target.lose_every(0)

    first = reconcile_command(broker)
    assert first.returncode == 1, first.stderr
    figures = json.loads(first.stdout)
    assert {
        key: figures[key] for key in ("expected", "delivered", "found", "missing", "extra", "different")
    } == {
        "expected": 100,
        "delivered": 100,
        "found": 97,
        "missing": 3,
        "extra": 0,
        "different": 0,
    }
    assert figures["drift_percent"] == 3.0 and figures["read_back"] is True and figures["repaired"] == 0
    run = ReconciliationRun.objects.get(pk=figures["run"])
    assert sorted(m["key"] for m in run.mismatches) == sorted(lost)

    repair = reconcile_command(broker, "--repair")
    assert repair.returncode == 1 and json.loads(repair.stdout)["repaired"] == 3  # drift found before repair
    wait_until(lambda: len(pms_target.events()) == 100 and all_delivered(), timeout=60, message="repaired")

    second = reconcile_command(broker)
    assert second.returncode == 0, second.stdout
    assert json.loads(second.stdout)["drift_percent"] == 0.0

    requests_before = len(pms_target.requests)
    third = reconcile_command(broker, "--repair")
    assert third.returncode == 0 and json.loads(third.stdout)["repaired"] == 0
    assert [r.route for r in pms_target.requests[requests_before:]] == ["learning-events.list"]


def test_an_unknown_target_or_a_bad_time_exits_2_naming_it(broker, pms_target):
    bad_time = reconcile_command(broker, "--since", "yesterday")  # the last --since wins
    assert bad_time.returncode == 2 and "--since" in bad_time.stderr, bad_time.stderr
    unknown = reconcile_command(broker, "--target", "nope")
    assert unknown.returncode == 2 and "no target named 'nope'" in unknown.stderr


def test_a_retraction_the_pms_lost_is_extra_and_the_worker_retracts_it_again(
    pms_target, broker, celery_worker_process
):
    from tests.adapters.helpers import voiding

    celery_worker_process(broker)
    [kept, voided] = statement_store(statements=[completion(), completion()], credential=None)
    wait_until(lambda: Delivery.objects.filter(status=Delivery.DELIVERED).count() == 2, timeout=60)
    pms_target.lose_next_retractions(1)
    statement_store(statements=[voiding(voided)], credential=None)
    wait_until(
        lambda: Delivery.objects.filter(kind="retract", status=Delivery.DELIVERED).exists(), timeout=60
    )
    assert len(pms_target.events()) == 2  # the PMS answered 204 and kept the event

    found = reconcile_command(broker, "--repair")
    figures = json.loads(found.stdout)
    assert found.returncode == 1 and (figures["extra"], figures["repaired"]) == (1, 1)
    wait_until(lambda: len(pms_target.events()) == 1, timeout=60, message="retracted again by the worker")
    assert [event["statementId"] for event in pms_target.events().values()] == [kept]
    assert reconcile_command(broker).returncode == 0


def test_a_marketplace_record_changed_by_hand_is_different_and_the_worker_rewrites_it(
    market_target, broker, celery_worker_process
):
    celery_worker_process(broker)
    statement_store(statements=[completion()], credential=None)
    wait_until(lambda: ("E100", "SAFETY-BASICS") in market_target.skills(), timeout=60)
    right = market_target.skills()[("E100", "SAFETY-BASICS")]
    market_target.alter_skill("E100", "SAFETY-BASICS", level=1)

    found = reconcile_command(broker, "--repair", target="market")
    assert found.stdout, found.stderr
    figures = json.loads(found.stdout)
    assert found.returncode == 1 and (figures["different"], figures["repaired"]) == (1, 1)
    run = ReconciliationRun.objects.get(pk=figures["run"])
    assert (
        run.mismatches[0]["found"]["level"] == 1 and run.mismatches[0]["expected"]["level"] == right["level"]
    )
    wait_until(
        lambda: market_target.skills()[("E100", "SAFETY-BASICS")] == right, timeout=60, message="rewritten"
    )
    assert reconcile_command(broker, target="market").returncode == 0
