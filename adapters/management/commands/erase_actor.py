"""``manage.py erase_actor (--agent JSON | --employee-id ID) [--mode delete|pseudonymise]
[--dry-run] [--json]``: erase a person everywhere (adapters/privacy/erasure.py; README, "Privacy").

Prints what was (or, with ``--dry-run``, would be) erased per store area and per target. A repeat
of an erasure already made changes nothing and reports the first one. Exit 1 when the person is
not found."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from adapters.management.cli import person_named
from adapters.privacy.erasure import MODES, erase_subject
from adapters.privacy.subjects import SubjectError, subject_for


class Command(BaseCommand):
    help = "Erase a person (an xAPI agent, or an employee's every identifier) from the LRS and its targets."

    def add_arguments(self, parser: CommandParser) -> None:
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument(
            "--agent", help='the person as an xAPI agent, e.g. \'{"mbox": "mailto:a@example.com"}\''
        )
        who.add_argument(
            "--employee-id", help="the person as an HRIS employee id (all identifiers linked to it)"
        )
        parser.add_argument(
            "--mode",
            choices=MODES,
            default="delete",
            help="delete the person's own statements, or keep them under a pseudonym (default: delete)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="report what would be erased, erase nothing"
        )
        parser.add_argument("--json", action="store_true", help="print the result as one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        agent, employee_id = person_named(options["agent"], options["employee_id"])
        try:
            subject = subject_for(agent=agent, employee_id=employee_id)
        except SubjectError as exc:
            raise CommandError(str(exc)) from None
        result = erase_subject(
            subject, mode=options["mode"], requested_by="manage.py erase_actor", dry_run=options["dry_run"]
        )
        shown = result.as_dict()
        if options["json"]:
            self.stdout.write(json.dumps(shown, sort_keys=True))
            return
        for name, value in shown.items():
            self.stdout.write(f"{name}: {value}")
