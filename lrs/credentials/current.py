"""Whether a credential a process cached is still the one stored: the check a statement write
makes, so that a credential revoked in any process (deactivated, deleted, its secret or scopes
changed) or expired stops writing at once in every other one.

A server process keeps the credentials it authenticated for a few seconds
(``LRS_CREDENTIAL_CACHE_SECONDS``, ``lrs.api.auth``) so that the single-statement POST pays no
round trip for them; the write itself then checks the cached credential against its row, in the
same SQL statement (``lrs.statements.single``) or transaction (``lrs.statements.store``). Any
save of a credential changes ``updated_at`` (``auto_now``), so one comparison covers every change.

Whether a credential has expired is the database's clock's to say, here and in authentication
(``with_expiry``): an app server's clock apart from it would otherwise refuse a write the
authentication let through as "invalid credentials" (behind), or refuse one the database would
take (ahead).
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.db.models.functions import Now

from lrs.credentials.models import Credential


class DatabaseNow(Now):
    """The database's clock: ``clock_timestamp()`` on PostgreSQL, as ``still_current_sql`` reads it
    (``Now``, the statement's start, elsewhere)."""

    def as_postgresql(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, list]:
        return self.as_sql(compiler, connection, template="clock_timestamp()", **extra_context)


def with_expiry(credentials: QuerySet[Credential]) -> QuerySet[Credential]:
    """The credentials, each with ``expired_by_database``: whether it had expired by the database's
    clock when read (it stays so: an expiry is a moment past)."""
    expired = ExpressionWrapper(Q(expires_at__lte=DatabaseNow()), output_field=BooleanField())
    return credentials.annotate(expired_by_database=expired)


class CredentialChanged(Exception):
    """The credential of the request changed since it was cached: nothing was written. The caller
    authenticates the request again against the database and, if it still may, writes again."""


def still_current_sql() -> str:
    """A SQL boolean: the credential (parameters: ``still_current_params``) is stored unchanged
    and active, and not expired; true for no credential (an internal write)."""
    table = Credential._meta.db_table
    return (
        f"(%s::bigint IS NULL OR EXISTS (SELECT FROM {table} "
        "WHERE id = %s::bigint AND updated_at = %s AND is_active "
        "AND (expires_at IS NULL OR expires_at > clock_timestamp())))"
    )


def still_current_params(credential: Credential | None) -> list[Any]:
    if credential is None:
        return [None, None, None]
    return [credential.pk, credential.pk, credential.updated_at]


def ensure_current(credential: Credential | None) -> None:
    """Raise ``CredentialChanged`` unless ``credential`` is stored unchanged, active and not expired.
    On PostgreSQL the SQL of ``still_current_sql`` as it stands: a batch runs it on every write, and
    the ORM's compiling of the same query cost about as much as the query."""
    if credential is None:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {still_current_sql()}", still_current_params(credential))
            if not cursor.fetchone()[0]:
                raise CredentialChanged(credential.key)
        return
    stored = Credential.objects.filter(pk=credential.pk, updated_at=credential.updated_at, is_active=True)
    if not stored.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=DatabaseNow())).exists():
        raise CredentialChanged(credential.key)
