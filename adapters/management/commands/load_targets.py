"""``manage.py load_targets [PATH] [--dry-run]``: upsert targets from a JSON file (default
LRS_TARGETS_FILE); a file target no longer in the file is disabled.

Exit status: 0 when loaded (also without a file to load: "nothing to do"), 1 for a file that
cannot be read or is invalid (the message names the entry and field): then nothing changes."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from adapters.config import ConfigProblem
from adapters.management.cli import DRY_RUN_NOTE, rolled_back_if
from adapters.models import Target
from adapters.targets.file import sync_targets_file

# Bookkeeping a load touches on every target it names, changed or not.
NOT_SETTINGS = ("id", "created_at", "updated_at")


class Command(BaseCommand):
    help = "Create or update fan-out targets from a JSON file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "path",
            nargs="?",
            help="the JSON file of targets (name, adapter, config, filter, ...); default $LRS_TARGETS_FILE",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="validate the file and name the targets it would create, change and disable; change nothing",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not (options["path"] or settings.LRS_TARGETS_FILE):
            self.stdout.write("nothing to do: no PATH given and LRS_TARGETS_FILE is not set")
            return
        dry_run = options["dry_run"]
        before = settings_by_name()
        try:
            # Loaded and, in a dry run, rolled back: what it reports is what a load does.
            with rolled_back_if(dry_run):
                names = sync_targets_file(options["path"])
                after = settings_by_name()
        except ConfigProblem as problem:
            raise CommandError(str(problem)) from None
        created = [name for name in names if name not in before]
        changed = [name for name in names if name in before and before[name] != after[name]]
        disabled = sorted(
            name
            for name, row in after.items()
            if name not in names and before[name]["enabled"] and not row["enabled"]
        )
        verb = "would load" if dry_run else "loaded"
        self.stdout.write(
            f"{verb} {len(names)} target(s): {', '.join(names)} ({len(created)} new, {len(changed)} changed"
            + (f"; disabled, no longer in the file: {', '.join(disabled)}" if disabled else "")
            + (f"; {DRY_RUN_NOTE})" if dry_run else ")")
        )


def settings_by_name() -> dict[str, dict[str, Any]]:
    rows = Target.objects.values()
    return {row["name"]: {k: v for k, v in row.items() if k not in NOT_SETTINGS} for row in rows}
