"""``manage.py load_demo_data [--dry-run]``: the quickstart's identity link and competency mapping.

Development only: links the demo learner ada@example.com to employee E100 and activates a
competency mapping for the demo course, so a completion fans out to every demo target.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from adapters.identity.links import Identifiers, identity_links_upsert
from adapters.management.cli import DRY_RUN_NOTE, rolled_back_if
from adapters.models import CompetencyMapping

DEMO_COURSE = "https://lms.example.com/courses/safety-101"
LOADED = "ada@example.com -> employee E100; competency mapping demo-1 active"


class Command(BaseCommand):
    help = "Load the quickstart demo identity link and competency mapping (development only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="say what it would link and activate; change nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.LRS_ENV != "development":
            raise CommandError("load_demo_data only runs with LRS_ENV=development")
        with rolled_back_if(options["dry_run"]):
            load()
        if options["dry_run"]:
            self.stdout.write(f"demo data would be: {LOADED} ({DRY_RUN_NOTE})")
        else:
            self.stdout.write(f"demo data: {LOADED}")


def load() -> None:
    identity_links_upsert(
        employee_id="E100", identifiers=Identifiers(emails=["ada@example.com"]), source="demo"
    )
    CompetencyMapping.objects.update_or_create(
        version="demo-1",
        defaults={
            "is_active": True,
            "rules": [
                {
                    "activity_id": DEMO_COURSE,
                    "codes": ["SAFETY-BASICS"],
                    "level": {"thresholds": [[90, 5], [75, 4], [50, 3], [0, 2]], "no_score": 3},
                }
            ],
        },
    )
    CompetencyMapping.objects.exclude(version="demo-1").update(is_active=False)
