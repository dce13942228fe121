"""``manage.py deliveries_backfill TARGET [--since T] [--until T] [--force] [--restart] [--dry-run]``.

Exit status: 0 when done (also when the window holds nothing for the target: "nothing to do"),
1 for an unknown target or a bad time."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from adapters.delivery.replay import backfill, backfill_run_for, remaining
from adapters.management.cli import DRY_RUN_NOTE, add_progress_argument, progress_bar, target_named
from lrs.xapi.errors import XAPIValidationError
from lrs.xapi.timestamps import parse_timestamp


class Command(BaseCommand):
    help = (
        "Run stored statements (optionally a stored-time range) through one target. Stopped, the "
        "same command resumes where it stopped (--restart starts over); nothing is created twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target", help="the name of the target (an unknown name exits 1)")
        parser.add_argument("--since", help="ISO 8601; statements stored after this")
        parser.add_argument("--until", help="ISO 8601; statements stored up to this")
        parser.add_argument("--force", action="store_true", help="send again what was already delivered")
        parser.add_argument(
            "--restart", action="store_true", help="start from the beginning, not from an unfinished run"
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="count what it would create, send again and skip; change nothing (not even the checkpoint)",
        )
        add_progress_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        target = target_named(options["target"])
        if target is None:
            raise CommandError(f"no target named {options['target']!r}")
        try:
            since = parse_timestamp(options["since"], path="--since") if options["since"] else None
            until = parse_timestamp(options["until"], path="--until") if options["until"] else None
        except XAPIValidationError as exc:
            raise CommandError(str(exc)) from None
        dry_run = options["dry_run"]
        run = backfill_run_for(
            target=target,
            since=since,
            until=until,
            force=options["force"],
            restart=options["restart"],
            dry_run=dry_run,
        )
        if run.scanned:
            verb = "would resume" if dry_run else "resuming"
            self.stderr.write(f"{verb} backfill #{run.pk} after {run.scanned:,} statements")
        bar = progress_bar(
            self,
            total=run.scanned + remaining(run),
            initial=run.scanned,
            unit="stmt",
            desc=f"backfill {target.name}" + (" (dry run)" if dry_run else ""),
            disable=options["no_progress"],
        )
        with bar:
            counts = backfill(
                target=target, force=options["force"], run=run, progress=bar.update, dry_run=dry_run
            )
        if not counts["matched"]:
            window = "" if since is None and until is None else " in the window"
            self.stdout.write(f"nothing to do: no statement stored{window} goes to {target.name}")
            return
        summary = ", ".join(f"{name}: {value}" for name, value in counts.items())
        self.stdout.write(f"{summary} ({DRY_RUN_NOTE})" if dry_run else summary)
