"""Property: a target added to a store already holding statements, backfilled in pieces (stopped
after some pages and resumed, README "Replay and backfill"), while statements keep arriving
(the live fan-out), some are voided (before the backfill reaches them, or after), deliveries
run in between and a forced backfill may re-evaluate what was sent: once everything has run, the
receiver (the fake webhook, tests/targets/webhook_server.py) holds each live statement's
``statement.stored`` once, and of a voided one nothing or ``statement.stored`` then
``statement.voided``, never a ``statement.stored`` after its ``statement.voided``; with no forced
backfill, nothing is sent twice, not even under the same key.
``LRS_BACKFILL_PROPERTY_EXAMPLES`` sets the number of examples (default 25).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections import defaultdict

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.delivery.drain import delivery_send
from adapters.delivery.replay import backfill, backfill_run_for
from adapters.models import BackfillRun, Delivery, Target
from adapters.targets.enabled import forget_targets
from lrs.statements.store import statement_store
from tests.adapters.helpers import expand_outbox, voiding
from tests.conftest import make_statement

EXAMPLES = int(os.environ.get("LRS_BACKFILL_PROPERTY_EXAMPLES", "25"))

pytestmark = pytest.mark.django_db

STEPS = ["store", "void", "pages", "send", "force"]


class Stop(Exception):
    """Stands for Ctrl-C or a killed process between two pages."""


def backfill_pages(target: Target, pages: int) -> None:
    """Run the target's unfinished backfill (or a new one), stopped after ``pages`` pages."""
    seen: list[int] = []

    def progress(read: int) -> None:
        seen.append(read)
        if len(seen) >= pages:
            raise Stop

    run = backfill_run_for(target=target, since=None, until=None, force=False)
    with contextlib.suppress(Stop):
        backfill(target=target, run=run, page_size=2, progress=progress)


def send(data: st.DataObject, *, all_of_them: bool) -> None:
    while due := sorted(
        Delivery.objects.filter(status__in=[Delivery.PENDING, Delivery.RETRYING]).values_list("id", flat=True)
    ):
        if not all_of_them and not data.draw(st.booleans(), label="send one more"):
            return
        delivery_send(data.draw(st.sampled_from(due), label="send") if not all_of_them else due[0])


def events_by_statement(receiver) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Per statement id, the events received in arrival order: every request taken, and only the
    first of each key (what a receiver dropping repeats applies)."""
    every: dict[str, list[str]] = defaultdict(list)
    applied: dict[str, list[str]] = defaultdict(list)
    seen: set[str] = set()
    for request in receiver.accepted():
        for key, event in request.events():
            every[event["statement"]["id"]].append(event["event"])
            if key not in seen:
                seen.add(key)
                applied[event["statement"]["id"]].append(event["event"])
    return every, applied


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_new_target_backfilled_in_pieces_during_ingest_gets_each_statement_once(
    webhook_target, monkeypatch, data
):
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "test-webhook-secret")
    with transaction.atomic():
        webhook_target.reset()
        forget_targets()
        target = Target.objects.create(
            name="late",
            adapter="webhook",
            enabled=False,
            config={"url": webhook_target.url, "secret": {"env": "TEST_WEBHOOK_SECRET"}},
        )
        ids: list[str] = []

        def store() -> None:
            ids.append(str(uuid.uuid4()))
            statement_store(statements=[make_statement(statement_id=ids[-1])], credential=None)
            expand_outbox()

        for _ in range(data.draw(st.integers(0, 6), label="stored before")):
            store()
        target.enabled = True
        target.save()  # seen at once by this process
        voided: set[str] = set()
        forced = False
        for step in data.draw(st.lists(st.sampled_from(STEPS), max_size=12), label="steps"):
            if step == "store":
                store()
            elif step == "void" and set(ids) - voided:
                victim = data.draw(st.sampled_from(sorted(set(ids) - voided)), label="void")
                statement_store(statements=[voiding(victim)], credential=None)
                expand_outbox()
                voided.add(victim)
            elif step == "pages":
                backfill_pages(target, data.draw(st.integers(1, 3), label="pages"))
            elif step == "send":
                send(data, all_of_them=False)
            elif step == "force":
                backfill(target=target, force=True)
                forced = True
        backfill(target=target, run=backfill_run_for(target=target, since=None, until=None, force=False))
        expand_outbox()
        send(data, all_of_them=True)

        every, applied = events_by_statement(webhook_target)
        for statement_id in ids:
            if statement_id in voided:
                assert applied[statement_id] in ([], ["statement.stored", "statement.voided"]), (
                    statement_id,
                    applied[statement_id],
                )
            else:
                assert applied[statement_id] == ["statement.stored"], (statement_id, applied[statement_id])
            if not forced:
                assert every[statement_id] == applied[statement_id], (statement_id, every[statement_id])
        assert not BackfillRun.objects.filter(target=target, finished_at=None).exists()
        transaction.set_rollback(True)
