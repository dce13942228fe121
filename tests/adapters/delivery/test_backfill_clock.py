"""A backfill ends once the cut (``consistent_through``, the database's clock, as ``stored`` is)
has passed ``LRS_TARGETS_CACHE_SECONDS`` after it began (``adapters/delivery/replay.py``): that
beginning is read from the same clock. Read from the host running the command, a clock ahead of
the database's kept the backfill waiting by as much (an hour ahead: an hour of empty reads), and
one behind ended it before the processes caching the targets without the new one had let go.
Real PostgreSQL; the host's clock set ahead."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from adapters.delivery.replay import backfill
from adapters.models import Target

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the database has a clock of its own"),
]


def test_a_backfill_run_on_a_host_whose_clock_is_ahead_of_the_databases_ends(
    webhook_target, monkeypatch, settings
):
    settings.LRS_TARGETS_CACHE_SECONDS = 1
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "test-webhook-secret")
    target = Target.objects.create(
        name="late",
        adapter="webhook",
        config={"url": webhook_target.url, "secret": {"env": "TEST_WEBHOOK_SECRET"}},
    )
    host_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: host_now() + timedelta(hours=1))
    began = time.monotonic()

    def still_waiting(_read: int) -> None:
        if time.monotonic() - began > 10:
            raise AssertionError("the backfill still waits for the host's clock, 10 s on")

    backfill(target=target, progress=still_waiting)
    assert time.monotonic() - began < 10
