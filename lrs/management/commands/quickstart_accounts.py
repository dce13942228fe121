"""``manage.py quickstart_accounts``: the quickstart's admin login and demo xAPI credential.

Development only. Each run sets a fresh admin password and demo secret and
prints them, since only digests are stored and they cannot be shown again.
``--dry-run`` says what it would create or reset.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from lrs.credentials import scopes
from lrs.credentials.models import Credential
from lrs.credentials.services import credential_upsert

DEMO_KEY = "demo"
DEMO_STATEMENT = (
    '{"actor":{"mbox":"mailto:ada@example.com","name":"Ada"},'
    '"verb":{"id":"http://adlnet.gov/expapi/verbs/completed","display":{"en-US":"completed"}},'
    '"object":{"id":"https://lms.example.com/courses/safety-101",'
    '"definition":{"name":{"en-US":"Safety 101"}}},'
    '"result":{"completion":true,"score":{"scaled":0.92}}}'
)


class Command(BaseCommand):
    help = "Create (or reset) the quickstart admin user and demo xAPI credential, and print them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="say which account and credential it would create or reset; change nothing",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.LRS_ENV != "development":
            raise CommandError("quickstart_accounts only runs with LRS_ENV=development")
        if options["dry_run"]:
            user = "reset" if get_user_model().objects.filter(username="admin").exists() else "create"
            demo = "reset" if Credential.objects.filter(name="demo").exists() else "create"
            self.stdout.write(
                f"would {user} the admin user 'admin' (a new password) and {demo} the demo credential "
                "(a new secret) (dry run, nothing changed)"
            )
            return
        password = secrets.token_urlsafe(12)
        user_model = get_user_model()
        user = user_model.objects.filter(username="admin").first() or user_model(username="admin")
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        secret = secrets.token_urlsafe(24)
        credential_upsert(name="demo", scopes=[scopes.ALL], key=DEMO_KEY, secret=secret)
        # Where the quickstart serves (scripts/quickstart.sh takes LRS_ADDRESS, 127.0.0.1:8000 by default).
        base = "http://" + (os.environ.get("LRS_ADDRESS") or "127.0.0.1:8000")
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "LRS quickstart accounts (reset on every start):",
                    f"  admin:  {base}/admin/   user admin   password " + password,
                    f"  xAPI:   endpoint {base}/xapi/   key " + DEMO_KEY + "   secret " + secret,
                    "  read:   curl -s -u "
                    + DEMO_KEY
                    + ":"
                    + secret
                    + " -H 'X-Experience-API-Version: 1.0.3'"
                    + f" {base}/xapi/statements",
                    "  send a completion (the downstream stand-ins on :8101-8105 print what they receive):",
                    "          curl -s -u "
                    + DEMO_KEY
                    + ":"
                    + secret
                    + " -H 'X-Experience-API-Version: 1.0.3'"
                    + f" -H 'Content-Type: application/json' {base}/xapi/statements"
                    + " -d '"
                    + DEMO_STATEMENT
                    + "'",
                    "",
                ]
            )
        )
