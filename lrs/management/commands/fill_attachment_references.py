"""``manage.py fill_attachment_references``

Writes the ``StatementAttachment`` rows (which statement names which attachment hash) of any
stored statement that has none: run it once after a rolling deploy of the release with migration
0008, when processes of the earlier release may have stored statements with attachments after the
migration filled the table. Erasure and retention delete attachment bytes only when no row names
their hash, so a missing row could let them delete bytes a statement still needs. Safe to run
again at any time; prints how many rows were missing.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from lrs.statements.erasure import fill_attachment_references


class Command(BaseCommand):
    help = "Write missing attachment reference rows (after a rolling deploy of migration 0008)."

    def handle(self, *args: Any, **options: Any) -> None:
        written = fill_attachment_references()
        self.stdout.write(f"attachment references written: {written}")
