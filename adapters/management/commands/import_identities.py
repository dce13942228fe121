"""``manage.py import_identities FILE.csv``: bulk-import identity links (idempotent).

Columns: employee_id,email,account_homepage,account_name,openid,mbox_sha1sum (all but
employee_id may be empty), and optionally action (add, remove, move) and from_employee_id.
Re-importing the same file adds nothing; held deliveries whose actor is now linked are released.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from adapters.identity.links import IdentityInputError, identity_links_import_csv


class Command(BaseCommand):
    help = "Import actor -> employee id links from a CSV file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "path", help="CSV file: employee_id, identifier columns, optional action and from_employee_id"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            text = Path(options["path"]).read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise CommandError(f"cannot read {options['path']}: {exc.strerror}") from None
        try:
            counts = identity_links_import_csv(text, changed_by="manage.py import_identities")
        except IdentityInputError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"{counts['rows']} rows: {counts['links_created']} new links, "
            f"{counts['links_removed']} removed, {counts['links_moved']} moved"
        )
