"""``manage.py deliveries_backfill TARGET [--since T] [--until T] [--force] [--restart]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from adapters.delivery.replay import backfill, backfill_run_for, remaining
from adapters.models import Target
from lrs.xapi.errors import XAPIValidationError
from lrs.xapi.timestamps import parse_timestamp


class Command(BaseCommand):
    help = (
        "Run stored statements (optionally a stored-time range) through one target. Stopped, the "
        "same command resumes where it stopped (--restart starts over); nothing is created twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target")
        parser.add_argument("--since", help="ISO 8601; statements stored after this")
        parser.add_argument("--until", help="ISO 8601; statements stored up to this")
        parser.add_argument("--force", action="store_true", help="send again what was already delivered")
        parser.add_argument(
            "--restart", action="store_true", help="start from the beginning, not from an unfinished run"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar (it goes to stderr)")

    def handle(self, *args: Any, **options: Any) -> None:
        target = Target.objects.filter(name=options["target"]).first()
        if target is None:
            raise CommandError(f"no target named {options['target']!r}")
        try:
            since = parse_timestamp(options["since"], path="--since") if options["since"] else None
            until = parse_timestamp(options["until"], path="--until") if options["until"] else None
        except XAPIValidationError as exc:
            raise CommandError(str(exc)) from None
        run = backfill_run_for(
            target=target, since=since, until=until, force=options["force"], restart=options["restart"]
        )
        if run.scanned:
            self.stderr.write(f"resuming backfill #{run.pk} after {run.scanned:,} statements")
        bar = tqdm(
            total=run.scanned + remaining(run),
            initial=run.scanned,
            unit="stmt",
            unit_scale=True,
            desc=f"backfill {target.name}",
            file=self.stderr._out,
            disable=options["no_progress"],
            dynamic_ncols=True,
        )
        with bar:
            counts = backfill(target=target, force=options["force"], run=run, progress=bar.update)
        self.stdout.write(", ".join(f"{name}: {value}" for name, value in counts.items()))
