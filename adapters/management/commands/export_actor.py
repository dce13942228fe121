"""``manage.py export_actor (--agent JSON | --employee-id ID) --output FILE [--no-progress]``: everything
the LRS holds about one person, as a ZIP (adapters/privacy/export.py; README, "Export")."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from adapters.management.cli import add_progress_argument, person_named, progress_bar
from adapters.privacy.export import SubjectExport, subject_is_known
from adapters.privacy.subjects import SubjectError, subject_for


class Command(BaseCommand):
    help = (
        "Export every statement, document, delivery record and identity record about one person "
        "(by xAPI agent or HRIS employee id) as a ZIP with a manifest. Exits 1 when the LRS holds "
        "nothing about them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--agent", help='an xAPI agent as JSON, e.g. \'{"mbox": "mailto:ada@example.com"}\'')
        who.add_argument("--employee-id", help="an HRIS employee id: every identifier linked to it")
        parser.add_argument("--output", required=True, help="the ZIP file to write; - for standard output")
        add_progress_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        agent, employee_id = person_named(options["agent"], options["employee_id"])
        try:
            subject = subject_for(agent=agent, employee_id=employee_id)
        except SubjectError as exc:
            raise CommandError(str(exc)) from None
        if not subject_is_known(subject):
            raise CommandError("no statement, document or identity link names this person: nothing to export")
        to_stdout = options["output"] == "-"
        if to_stdout and sys.stdout.isatty():
            raise CommandError("--output -: standard output is a terminal; redirect it to a file")
        bar = progress_bar(self, total=None, unit="stmt", desc="export", disable=options["no_progress"])
        # The total is counted inside the export's snapshot, so it is what the export writes; it
        # comes before the first statement is counted, and reset(total) sets it.
        export = SubjectExport(
            subject, requested_by="manage.py export_actor", progress=bar.update, total=bar.reset
        )
        with bar:
            if to_stdout:
                for chunk in export.chunks():
                    sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()
            else:
                try:
                    self._write_file(Path(options["output"]), export)
                except OSError as exc:
                    raise CommandError(f"--output: {exc}") from None
        counts = (export.manifest or {}).get("counts", {})
        summary = ", ".join(f"{name}: {value}" for name, value in counts.items())
        # The summary goes to stderr when the archive itself is on stdout.
        (self.stderr if to_stdout else self.stdout).write(summary)

    @staticmethod
    def _write_file(path: Path, export: SubjectExport) -> None:
        # Written beside the target and renamed at the end: a failed export leaves no partial ZIP
        # that looks complete.
        partial = path.with_name(path.name + ".partial")
        try:
            # Readable by the owner only: the file is one person's personal data.
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as out:
                for chunk in export.chunks():
                    out.write(chunk)
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
