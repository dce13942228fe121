"""``manage.py deliveries_backfill TARGET [--since T] [--until T] [--force]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from adapters.delivery.replay import backfill
from adapters.models import Target
from lrs.xapi.errors import XAPIValidationError
from lrs.xapi.timestamps import parse_timestamp


class Command(BaseCommand):
    help = "Run stored statements (optionally a stored-time range) through one target."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target")
        parser.add_argument("--since", help="ISO 8601; statements stored after this")
        parser.add_argument("--until", help="ISO 8601; statements stored up to this")
        parser.add_argument("--force", action="store_true", help="send again what was already delivered")

    def handle(self, *args: Any, **options: Any) -> None:
        target = Target.objects.filter(name=options["target"]).first()
        if target is None:
            raise CommandError(f"no target named {options['target']!r}")
        try:
            since = parse_timestamp(options["since"], path="--since") if options["since"] else None
            until = parse_timestamp(options["until"], path="--until") if options["until"] else None
        except XAPIValidationError as exc:
            raise CommandError(str(exc)) from None
        counts = backfill(target=target, since=since, until=until, force=options["force"])
        self.stdout.write(", ".join(f"{name}: {value}" for name, value in counts.items()))
