"""``manage.py reconcile --target NAME [--since T] [--until T] [--repair] [--json]``.

Exit status: 0 when the drift is within ``LRS_RECONCILE_MAX_DRIFT_PERCENT``, 1 when not, 2 on an
error (unknown target, bad time, a target that cannot be read)."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from adapters.models import ReconciliationRun, Target
from adapters.reconciliation.run import reconcile
from adapters.reconciliation.tasks import default_window, drift_judged
from lrs.statements.selectors import StatementQuery, statement_window_count
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
)


def summary(run: ReconciliationRun) -> dict[str, Any]:
    counts = run.counts
    expected = counts.get("expected", 0)
    return {
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


class Command(BaseCommand):
    help = "Compare what a target holds with what the learning records say (and --repair the difference)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--target", required=True)
        parser.add_argument(
            "--since", help="ISO 8601; statements stored after this (default: 2 days ago, 00:00 UTC)"
        )
        parser.add_argument(
            "--until", help="ISO 8601; statements stored up to this (default: today, 00:00 UTC)"
        )
        parser.add_argument(
            "--repair", action="store_true", help="send what is missing, retract what is extra"
        )
        parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar (it goes to stderr)")

    def handle(self, *args: Any, **options: Any) -> None:
        target = Target.objects.filter(name=options["target"]).first()
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
        total = statement_window_count(StatementQuery(since=since, until=until))
        bar = tqdm(
            total=total,
            unit="stmt",
            unit_scale=True,
            desc=f"reconcile {target.name}",
            file=self.stderr._out,
            disable=options["no_progress"],
        )
        try:
            with bar:
                run = reconcile(
                    target=target, since=since, until=until, repair=options["repair"], progress=bar.update
                )
        except Exception as exc:  # the target cannot be read, a secret is missing: recorded on the run
            raise CommandError(f"reconciliation of {target.name} failed: {exc}", returncode=2) from None
        drift_judged(target)
        figures = summary(run)
        if options["json"]:
            self.stdout.write(json.dumps(figures))
        else:
            self.stdout.write(", ".join(f"{name}: {value}" for name, value in figures.items()))
        if run.drift_percent > settings.LRS_RECONCILE_MAX_DRIFT_PERCENT:
            raise SystemExit(1)
