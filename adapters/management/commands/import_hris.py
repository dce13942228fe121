"""``manage.py import_hris FILE``: apply an HRIS delta export (CSV or JSON lines) to the identity
map and the employee records: hires, changes, terminations (adapters/identity/hris.py).

Idempotent: a second run of the same file reports every row unchanged. Prints one result per
changed or rejected row (``--json``: every row, as JSON lines) and a summary; exits 1 when a row
was rejected (the other rows are applied), 0 otherwise.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from adapters.identity.hris import hris_import, rows_from_text
from adapters.identity.links import IdentityInputError
from adapters.management.cli import read_utf8


class Command(BaseCommand):
    help = "Apply an HRIS delta export (hires, changes, terminations) to employees and identity links."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "path",
            help="a CSV file (columns employee_id, emails, accounts, status, effective_date, manager_id, "
            "department) or JSON lines (.jsonl / .ndjson), one employee per row",
        )
        parser.add_argument("--dry-run", action="store_true", help="report what would change, change nothing")
        parser.add_argument("--json", action="store_true", help="print every row's result as a JSON line")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        text = read_utf8(path)
        jsonl = path.suffix.lower() in {".jsonl", ".ndjson", ".json"}
        try:
            rows = list(rows_from_text(text, jsonl=jsonl))
        except IdentityInputError as exc:
            raise CommandError(str(exc)) from None
        with tqdm(
            total=len(rows),
            unit="row",
            desc="import_hris" + (" (dry run)" if options["dry_run"] else ""),
            file=self.stderr._out,
            disable=options["no_progress"],
            dynamic_ncols=True,
        ) as bar:
            results = hris_import(
                rows, dry_run=options["dry_run"], changed_by="manage.py import_hris", progress=bar.update
            )
        for result in results:
            if options["json"]:
                self.stdout.write(json.dumps(result.as_dict()))
            elif result.result != "unchanged":
                detail = result.reason or "; ".join(result.changes)
                self.stdout.write(
                    f"line {result.line}: {result.employee_id or '-'} {result.result}: {detail}"
                )
        counts = Counter(result.result for result in results)
        summary = ", ".join(
            f"{counts[name]} {name}" for name in ("created", "updated", "unchanged", "rejected")
        )
        self.stderr.write(
            f"{len(results)} rows: {summary}" + (" (dry run: nothing changed)" if options["dry_run"] else "")
        )
        if counts["rejected"]:
            others = "would be applied" if options["dry_run"] else "were applied"
            raise CommandError(f"{counts['rejected']} rows rejected (listed above); the others {others}")
