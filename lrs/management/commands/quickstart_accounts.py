"""``manage.py quickstart_accounts``: the quickstart's admin login, demo xAPI credential and demo
HRIS credential.

Development only. Each run sets a fresh admin password and demo secrets and prints them, since
only digests are stored and they cannot be shown again. The demo xAPI credential holds ``all``,
which does not include ``identity/write`` (README, "Pointing an LMS at the LRS"); the README's
identity API examples use the demo HRIS credential, which holds ``identity/write`` only, through
the ``export HRIS_CREDENTIAL=...`` line printed here. ``--dry-run`` says what it would create or
reset.
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
HRIS_KEY = "demo-hris"
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
            hris = "reset" if Credential.objects.filter(name=HRIS_KEY).exists() else "create"
            self.stdout.write(
                f"would {user} the admin user 'admin' (a new password), {demo} the demo credential "
                f"and {hris} the demo HRIS credential (new secrets) (dry run, nothing changed)"
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
        hris_secret = secrets.token_urlsafe(24)
        credential_upsert(name=HRIS_KEY, scopes=[scopes.IDENTITY_WRITE], key=HRIS_KEY, secret=hris_secret)
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
                    f"  HRIS:   key {HRIS_KEY}   secret {hris_secret}   (identity/write only)",
                    '  for the README\'s identity API examples (curl -u "$HRIS_CREDENTIAL" ...), first:',
                    f"          export HRIS_CREDENTIAL={HRIS_KEY}:{hris_secret}",
                    "",
                ]
            )
        )
