"""``manage.py void_late_targets``

Marks voided every stored statement that a stored voiding statement names but that is not voided
(xAPI Data 2.3.2: voided whichever came first), and cancels or retracts its deliveries downstream.
Run it once after upgrading to the release that stores a statement arriving after its voiding
statement voided: earlier releases left such statements live. The fan-out's sweep does the same
for voiding statements of the last minutes (a statement and its voiding statement stored at the
same moment). Safe to run again; prints how many statements it voided.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from lrs.statements.store import void_late_targets


class Command(BaseCommand):
    help = "Void stored statements a stored voiding statement names (once after upgrading)."

    def handle(self, *args: Any, **options: Any) -> None:
        voided = void_late_targets(stored_since=None)
        self.stdout.write(f"statements voided: {len(voided)}")
