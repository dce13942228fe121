"""``manage.py deliveries_replay [--target NAME] [--id N ...] [--dry-run]``: send dead letters again.

Exit status: 0 when done (also when there is nothing to replay: "nothing to do"), 1 for an unknown
target or an ``--id`` that is not a dead or cancelled delivery (of ``--target``): then nothing is
replayed. Deliveries refused because their statement was voided since are listed on stderr.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from adapters.delivery.replay import ReplayOutcome, deliveries_replay
from adapters.management.cli import DRY_RUN_NOTE, add_progress_argument, progress_bar, target_named
from adapters.models import Delivery, Target

# Deliveries per transaction: a replay of a large outage commits as it goes, so an interrupted
# one leaves the rest dead, to be replayed by running the command again.
CHUNK = 500


class Command(BaseCommand):
    help = "Re-send dead (or cancelled) deliveries, keeping their idempotency keys."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--target", help="only this target's dead or cancelled deliveries (an unknown name exits 1)"
        )
        parser.add_argument(
            "--id",
            type=int,
            action="append",
            dest="ids",
            metavar="N",
            help="a delivery id (repeatable); one that is not a dead or cancelled delivery (of --target) "
            "exits 1 before anything is replayed",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="list each delivery and whether it would be sent again or refused; change nothing",
        )
        add_progress_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        target = None
        if options["target"]:
            target = target_named(options["target"])
            if target is None:
                raise CommandError(f"no target named {options['target']!r}")
        ids = options["ids"]
        # The service's own selection, changing nothing: what a replay would take, and why not.
        preview = deliveries_replay(delivery_ids=ids, target=target, dry_run=True)
        candidates = sorted([*preview.replayed, *(delivery_id for delivery_id, _ in preview.refused)])
        if ids:
            unmatched(ids, target, set(candidates))
        if not candidates:
            scope = f" of {target.name}" if target else ""
            self.stdout.write(f"nothing to do: no dead or cancelled deliveries{scope}")
            return
        if options["dry_run"]:
            self.show(preview, candidates)
            return
        done = ReplayOutcome()
        with progress_bar(
            self, total=len(candidates), unit="delivery", desc="replay", disable=options["no_progress"]
        ) as bar:
            for start in range(0, len(candidates), CHUNK):
                chunk = candidates[start : start + CHUNK]
                outcome = deliveries_replay(delivery_ids=chunk, target=target)
                done.replayed.extend(outcome.replayed)
                done.refused.extend(outcome.refused)
                bar.update(len(chunk))
        for delivery_id, reason in done.refused:
            self.stderr.write(f"delivery {delivery_id} refused: {reason}")
        self.stdout.write(f"replayed {len(done.replayed)} deliveries, refused {len(done.refused)}")

    def show(self, preview: ReplayOutcome, candidates: list[int]) -> None:
        refused = dict(preview.refused)
        for start in range(0, len(candidates), CHUNK):
            rows = Delivery.objects.filter(id__in=candidates[start : start + CHUNK]).order_by("id")
            for delivery_id, target_name, status, kind in rows.values_list(
                "id", "target__name", "status", "kind"
            ):
                would = (
                    f"would be refused: {refused[delivery_id]}"
                    if delivery_id in refused
                    else "would be sent again"
                )
                self.stdout.write(f"delivery {delivery_id} ({target_name}, {status}, {kind}): {would}")
        self.stdout.write(
            f"would replay {len(preview.replayed)} deliveries, refuse {len(refused)} ({DRY_RUN_NOTE})"
        )


def unmatched(ids: list[int], target: Target | None, candidates: set[int]) -> None:
    """An id named on the command line that replay would not take is a mistake (a typo, another
    target's delivery, one already sent): name each, before anything is replayed."""
    missing = sorted(set(ids) - candidates)
    if not missing:
        return
    known = {
        delivery_id: (status, target_name)
        for delivery_id, status, target_name in Delivery.objects.filter(id__in=missing).values_list(
            "id", "status", "target__name"
        )
    }
    reasons = []
    for delivery_id in missing:
        if delivery_id not in known:
            reasons.append(f"delivery {delivery_id} does not exist")
            continue
        status, target_name = known[delivery_id]
        if target is not None and target_name != target.name:
            reasons.append(f"delivery {delivery_id} is of target {target_name!r}, not {target.name!r}")
        else:
            reasons.append(f"delivery {delivery_id} is {status}, not dead or cancelled")
    raise CommandError(f"nothing replayed: {'; '.join(reasons)}")
