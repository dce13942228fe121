"""``manage.py create_credential NAME --scopes all [--key K] [--secret S | --secret-file PATH]
[--expires-in DAYS | --expires-at TIME | --no-expiry] [--dry-run]``

Creates or updates an xAPI credential by name, so provisioning scripts can run it
repeatedly. Prints the key and secret only when it generated them (a secret passed
in is never echoed, and only its digest is stored). ``--secret-file`` reads it from a file (a
Docker or Kubernetes secret), so it stays out of the shell history and the process list. Exit
status 1 for an unknown scope, an unreadable secret file or an expiry that is not one. An expiry
(for a contractor's or a migration's credential) is kept by later runs that name none.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from lrs.credentials import scopes as scope_rules
from lrs.credentials.services import CredentialInputError, credential_upsert


class Command(BaseCommand):
    help = "Create or update an xAPI credential (HTTP Basic key/secret with xAPI scopes)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="a unique name for the credential, e.g. the LMS it belongs to")
        parser.add_argument(
            "--scopes",
            default="statements/write,statements/read/mine",
            help=(
                f"comma-separated scopes; known: {', '.join(scope_rules.KNOWN_SCOPES)}. "
                f"{scope_rules.ALL} is every xAPI scope; {scope_rules.IDENTITY_WRITE} (the identity API) "
                f"and {scope_rules.PRIVACY} (the privacy API) are granted by name only"
            ),
        )
        parser.add_argument("--key", help="the public key (generated when absent for a new credential)")
        parser.add_argument("--secret", help="the secret (generated when absent for a new credential)")
        parser.add_argument(
            "--secret-file", help="a file holding the secret (kept out of shell history and the process list)"
        )
        parser.add_argument("--inactive", action="store_true", help="disable the credential")
        expiry = parser.add_mutually_exclusive_group()
        expiry.add_argument(
            "--expires-in", type=int, metavar="DAYS", help="refuse the credential after DAYS days"
        )
        expiry.add_argument(
            "--expires-at",
            metavar="TIME",
            help="refuse the credential from TIME (ISO 8601; UTC unless it says)",
        )
        expiry.add_argument("--no-expiry", action="store_true", help="the credential never expires")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="say whether it would create or update the credential; change nothing, print no secret",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            scopes = scope_rules.parse(options["scopes"])
        except ValueError as exc:
            raise CommandError(f"--scopes: {exc}") from None
        secret = options["secret"]
        if options["secret_file"]:
            if secret:
                raise CommandError("give --secret or --secret-file, not both")
            secret = _secret_from(Path(options["secret_file"]))
        expires_at = _expiry(options["expires_in"], options["expires_at"])
        # Upserted and, in a dry run, rolled back: the answer is the service's own, not a guess.
        try:
            with transaction.atomic():
                result = credential_upsert(
                    name=options["name"],
                    scopes=scopes,
                    key=options["key"],
                    secret=secret,
                    is_active=not options["inactive"],
                    expires_at=expires_at,
                    no_expiry=options["no_expiry"],
                )
                if options["dry_run"]:
                    transaction.set_rollback(True)
        except CredentialInputError as exc:
            given = {
                "name": "NAME",
                "key": "--key",
                "secret": "--secret-file" if options["secret_file"] else "--secret",
            }
            raise CommandError(f"{given[exc.field]}: {exc}") from None
        verb = "created" if result.created else "updated"
        if options["dry_run"]:
            self.stdout.write(
                f"credential {options['name']!r} would be {verb}; scopes: {','.join(scopes)} "
                "(dry run, nothing changed)"
            )
            return
        self.stdout.write(f"credential {result.credential.name!r} {verb}; scopes: {','.join(scopes)}")
        if result.credential.expires_at is not None:
            self.stdout.write(f"expires at {result.credential.expires_at.isoformat()}")
        if result.generated_key:
            self.stdout.write(f"key:    {result.credential.key}")
        if result.generated_secret:
            self.stdout.write(f"secret: {result.generated_secret}")


def _secret_from(path: Path) -> str:
    """The secret a file holds, without its trailing line break; the file is named, never its text."""
    try:
        secret = path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        raise CommandError(f"--secret-file: {path} cannot be read") from None
    if not secret:
        raise CommandError(f"--secret-file: {path} is empty")
    return secret


def _expiry(days: int | None, at: str | None) -> datetime | None:
    """When the credential should expire, from ``--expires-in`` or ``--expires-at``; None: neither."""
    if days is not None:
        if days < 1:
            raise CommandError("--expires-in: a number of days, 1 or more")
        try:
            return timezone.now() + timedelta(days=days)
        except OverflowError:
            raise CommandError(f"--expires-in: {days} days is beyond the year 9999") from None
    if at is None:
        return None
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        raise CommandError(
            f"--expires-at: {at!r} is not an ISO 8601 time, e.g. 2031-02-03T04:05:06Z"
        ) from None
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    try:
        # Stored in UTC: a time past the year 9999 there would be written, then not read back.
        return moment.astimezone(UTC)
    except OverflowError:
        raise CommandError(f"--expires-at: {at!r} is beyond the year 9999 in UTC") from None
