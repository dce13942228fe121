"""``manage.py import_identities FILE.csv [--dry-run]``: bulk-import identity links (idempotent).

Columns: employee_id,email,account_homepage,account_name,openid,mbox_sha1sum (all but
employee_id may be empty), and optionally action (add, remove, move) and from_employee_id.
Re-importing the same file adds nothing; held deliveries whose actor is now linked are released.
All or nothing: a bad row (named by its line) exits 1 and imports none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from adapters.identity.links import IdentityInputError, identity_links_import_csv
from adapters.management.cli import (
    DRY_RUN_NOTE,
    add_progress_argument,
    progress_bar,
    read_utf8,
    rolled_back_if,
)


class Command(BaseCommand):
    help = "Import actor -> employee id links from a CSV file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "path", help="CSV file: employee_id, identifier columns, optional action and from_employee_id"
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="check every row and count the links it would add, remove and move; change nothing",
        )
        add_progress_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        text = read_utf8(Path(options["path"]))
        try:
            # The import is done and, in a dry run, rolled back: its counts and errors are exact,
            # and the held deliveries it releases are sent only after a commit that never comes.
            rows = max(0, len(text.splitlines()) - 1)
            bar = progress_bar(
                self, total=rows, unit="row", desc="import_identities", disable=options["no_progress"]
            )
            with bar, rolled_back_if(options["dry_run"]):
                counts = identity_links_import_csv(
                    text, changed_by="manage.py import_identities", progress=bar.update
                )
        except IdentityInputError as exc:
            raise CommandError(str(exc)) from None
        summary = (
            f"{counts['rows']} rows: {counts['links_created']} new links, "
            f"{counts['links_removed']} removed, {counts['links_moved']} moved"
        )
        self.stdout.write(f"{summary} ({DRY_RUN_NOTE})" if options["dry_run"] else summary)
