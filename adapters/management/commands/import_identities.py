"""``manage.py import_identities FILE.csv``: bulk-import identity links (idempotent).

Columns: employee_id,email,account_homepage,account_name,openid,mbox_sha1sum (all but
employee_id may be empty). Re-importing the same file adds nothing; held deliveries
whose actor is now linked are released.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from adapters.identity.links import IdentityInputError, identity_links_import_csv


class Command(BaseCommand):
    help = "Import actor -> employee id links from a CSV file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            text = Path(options["path"]).read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise CommandError(f"cannot read {options['path']}: {exc.strerror}") from None
        try:
            counts = identity_links_import_csv(text)
        except IdentityInputError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{counts['rows']} rows, {counts['links_created']} new links")
