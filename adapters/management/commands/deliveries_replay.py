"""``manage.py deliveries_replay [--target NAME] [--id N ...]``: send dead letters again."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from adapters.delivery.replay import deliveries_replay
from adapters.models import Target


class Command(BaseCommand):
    help = "Re-send dead (or cancelled) deliveries, keeping their idempotency keys."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--target", help="only this target's dead deliveries")
        parser.add_argument("--id", type=int, action="append", dest="ids", help="a delivery id (repeatable)")

    def handle(self, *args: Any, **options: Any) -> None:
        target = None
        if options["target"]:
            target = Target.objects.filter(name=options["target"]).first()
            if target is None:
                raise CommandError(f"no target named {options['target']!r}")
        outcome = deliveries_replay(delivery_ids=options["ids"], target=target)
        self.stdout.write(f"replaying {len(outcome.replayed)} deliveries")
        for delivery_id, reason in outcome.refused:
            self.stderr.write(f"delivery {delivery_id} refused: {reason}")
