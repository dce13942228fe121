"""``manage.py load_targets [PATH]``: upsert targets from a JSON file (default LRS_TARGETS_FILE)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from adapters.config import ConfigProblem
from adapters.targets.file import sync_targets_file


class Command(BaseCommand):
    help = "Create or update fan-out targets from a JSON file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", help="defaults to $LRS_TARGETS_FILE")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            names = sync_targets_file(options["path"])
        except ConfigProblem as problem:
            raise CommandError(str(problem)) from None
        self.stdout.write(f"loaded {len(names)} target(s): {', '.join(names)}")
