"""``manage.py deliveries_sweep [--loop] [--interval S] [--dry-run]``: dispatch due and stuck deliveries.

Celery beat runs the same sweep in production. Without a broker (the quickstart)
this loop runs retries in-process.
"""

from __future__ import annotations

import math
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q
from django.utils import timezone

from adapters.delivery.drain import has_due
from adapters.delivery.sweep import REDISPATCH_GRACE_SECONDS, sweep_due
from adapters.management.cli import DRY_RUN_NOTE
from adapters.models import Delivery, OutboxBatch, Target


class Command(BaseCommand):
    help = "Dispatch deliveries that are due, were never dispatched, or were left in flight by a dead worker."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="keep sweeping until interrupted")
        parser.add_argument("--interval", type=float, default=5.0, help="seconds between sweeps with --loop")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="count what one sweep would expand, put back and drain; dispatch nothing (not with --loop)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        interval = options["interval"]
        if options["loop"] and not (math.isfinite(interval) and interval > 0):
            # Checked before the first sweep: time.sleep refused it only after one (a traceback),
            # and 0 swept without pause.
            raise CommandError(f"--interval: {interval} is not a positive finite number of seconds")
        if options["dry_run"]:
            if options["loop"]:
                raise CommandError("--dry-run sweeps once: it does not go with --loop")
            self.stdout.write(preview())
            return
        while True:
            count = sweep_due()
            if count or not options["loop"]:
                self.stdout.write(f"dispatched {count} deliveries")
            if not options["loop"]:
                return
            time.sleep(options["interval"])


def preview() -> str:
    """What ``sweep_due`` would find now, read without changing anything. It mirrors the sweep's
    selection (adapters/delivery/sweep.py), which has no dry run of its own: it sends drain
    messages at once, so a sweep rolled back would still have dispatched."""
    now = timezone.now()
    grace = 0 if settings.CELERY_TASK_ALWAYS_EAGER else REDISPATCH_GRACE_SECONDS
    forgotten = Q(dispatched_at__isnull=True) | Q(created_at__lt=now - timedelta(seconds=grace))
    batches = OutboxBatch.objects.filter(forgotten).count()
    stuck = Delivery.objects.filter(status=Delivery.IN_FLIGHT, claimed_until__lt=now).count()
    due = [name for target_id, name in Target.objects.values_list("id", "name") if has_due(target_id)]
    if not (batches or stuck or due):
        return f"nothing to do: no forgotten outbox batch, no delivery stuck, nothing due ({DRY_RUN_NOTE})"
    # Due now: the sweep drains these, and whichever targets its expansion and put-backs make due.
    return (
        f"would expand {batches} outbox batches and put back {stuck} deliveries stuck in flight; "
        f"due now at {len(due)} targets{': ' + ', '.join(sorted(due)) if due else ''} ({DRY_RUN_NOTE})"
    )
