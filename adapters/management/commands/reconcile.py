"""``manage.py reconcile --target NAME [--since T] [--until T] [--repair] [--dry-run] [--json]``.

Exit status: 0 when the drift is within ``LRS_RECONCILE_MAX_DRIFT_PERCENT``, 1 when not (a dry run
too), 2 on an error (unknown target, bad time, a target that cannot be read)."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from adapters.management.cli import add_progress_argument, progress_bar, target_named
from adapters.models import ReconciliationRun, Target
from adapters.reconciliation.run import reconcile
from adapters.reconciliation.tasks import default_window, drift_judged
from adapters.redaction import redacted_text
from lrs.xapi.errors import XAPIValidationError
from lrs.xapi.timestamps import parse_timestamp

FIELDS = (
    "expected",
    "delivered",
    "found",
    "missing",
    "extra",
    "different",
    "held",
    "aged_out",
)


def summary(run: ReconciliationRun, *, dry_run: bool = False) -> dict[str, Any]:
    """The run's figures; a dry run's has no run id and says what a repair ``would_repair``."""
    counts = run.counts
    expected = counts.get("expected", 0)
    figures = {
        "run": run.pk,
        "target": run.target.name,
        "since": run.since.isoformat(),
        "until": run.until.isoformat(),
        **{name: counts.get(name, 0) for name in FIELDS},
        "found": counts.get("found") if run.read_back else None,
        "drift_percent": run.drift_percent,
        "success_percent": run.success_percent,
        "first_try_percent": round(100.0 * counts.get("first_try", 0) / expected, 3) if expected else 100.0,
        "read_back": run.read_back,
        "repaired": counts.get("repaired", 0),
    }
    if dry_run:
        repaired = figures.pop("repaired")
        if run.repair:
            figures["would_repair"] = repaired
        figures["dry_run"] = True
    return figures


class Command(BaseCommand):
    help = "Compare what a target holds with what the learning records say (and --repair the difference)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--target", required=True, help="the name of the target to compare (an unknown name exits 2)"
        )
        parser.add_argument(
            "--since", help="ISO 8601; statements stored after this (default: 2 days ago, 00:00 UTC)"
        )
        parser.add_argument(
            "--until", help="ISO 8601; statements stored up to this (default: today, 00:00 UTC)"
        )
        parser.add_argument(
            "--repair", action="store_true", help="send what is missing, retract what is extra"
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="compare, but store no run and judge no alert; with --repair, count what it would "
            "send (would_repair) and send nothing",
        )
        parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
        add_progress_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        target = target_named(options["target"])
        if target is None:
            raise CommandError(f"no target named {options['target']!r}", returncode=2)
        if target.receives == Target.RECEIVES_ALERTS:
            raise CommandError(f"{target.name} receives alerts only: it takes no statements", returncode=2)
        since, until = default_window(timezone.now())
        try:
            if options["since"]:
                since = parse_timestamp(options["since"], path="--since")
            if options["until"]:
                until = parse_timestamp(options["until"], path="--until")
        except XAPIValidationError as exc:
            raise CommandError(str(exc), returncode=2) from None
        if since >= until:
            raise CommandError("--since must be before --until", returncode=2)
        dry_run = options["dry_run"]
        # The total is set once the comparison knows it (reconcile's ``sized``): the statements of
        # the window it reads, or none for a target compared record by record (count and rate only).
        bar = progress_bar(
            self,
            total=None,
            unit="stmt",
            desc=f"reconcile {target.name}" + (" (dry run)" if dry_run else ""),
            disable=options["no_progress"],
        )

        def sized(total: int | None) -> None:
            if total is None:
                bar.unit = "record"
            bar.reset(total=total)

        try:
            with bar:
                run = reconcile(
                    target=target,
                    since=since,
                    until=until,
                    repair=options["repair"],
                    progress=bar.update,
                    sized=sized,
                    dry_run=dry_run,
                )
        except Exception as exc:  # the target cannot be read, a secret is missing (recorded on a stored run)
            # On stderr, so in a cron log or a CI job's output: redacted as the stored run's error is.
            failure = redacted_text(str(exc))
            raise CommandError(f"reconciliation of {target.name} failed: {failure}", returncode=2) from None
        if not dry_run:
            drift_judged(target)
        figures = summary(run, dry_run=dry_run)
        if options["json"]:
            self.stdout.write(json.dumps(figures))
        else:
            self.stdout.write(", ".join(f"{name}: {value}" for name, value in figures.items()))
        if run.drift_percent > settings.LRS_RECONCILE_MAX_DRIFT_PERCENT:
            raise SystemExit(1)
