"""``manage.py deliveries_sweep [--loop] [--interval S]``: dispatch due and stuck deliveries.

Celery beat runs the same sweep in production. Without a broker (the quickstart)
this loop runs retries in-process.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from adapters.delivery.sweep import sweep_due


class Command(BaseCommand):
    help = "Dispatch deliveries that are due, were never dispatched, or were left in flight by a dead worker."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="keep sweeping until interrupted")
        parser.add_argument("--interval", type=float, default=5.0, help="seconds between sweeps with --loop")

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            count = sweep_due()
            if count or not options["loop"]:
                self.stdout.write(f"dispatched {count} deliveries")
            if not options["loop"]:
                return
            time.sleep(options["interval"])
