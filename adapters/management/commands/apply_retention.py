"""``manage.py apply_retention [--dry-run] [--json]``: the retention policy now, as the nightly task
runs it (adapters/privacy/retention.py; README, "Retention")."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from adapters.privacy.retention import AREAS, apply_retention
from adapters.privacy.retention_preview import retention_preview


class Command(BaseCommand):
    help = (
        "Apply the retention policy (LRS_RETENTION_DAYS, LRS_RETENTION_MODE, LRS_DOCUMENT_RETENTION_DAYS, "
        "LRS_ATTEMPT_BODY_RETENTION_DAYS) now, in batches, recorded as a retention run. --dry-run "
        "counts what would go and changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="count only; change and record nothing")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run = options["dry_run"]
        if dry_run:
            preview = retention_preview()
            mode, cutoffs, counts = preview["mode"], preview["cutoffs"], preview["counts"]
            result: dict[str, Any] = {"dry_run": True, **preview}
        else:
            run = apply_retention()
            mode, cutoffs, counts = run.mode, run.cutoffs, run.counts
            result = {"run": run.pk, "mode": mode, "cutoffs": cutoffs, "counts": counts}
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        self.stdout.write(f"mode: {mode}")
        for area in AREAS:
            cutoff = cutoffs.get(area)
            self.stdout.write(f"{area}: {'before ' + cutoff if cutoff else 'kept forever'}")
        verb = "would go" if dry_run else "done"
        self.stdout.write(
            f"{verb}: " + (", ".join(f"{name} {value}" for name, value in counts.items()) or "nothing")
        )
