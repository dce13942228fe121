"""Writes of xAPI credentials (``credential_upsert``), shared by the management command and admin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from lrs.credentials.models import Credential
from lrs.xapi.json_types import unstorable


@dataclass
class CredentialUpsertResult:
    credential: Credential
    created: bool
    generated_key: bool
    generated_secret: str | None  # the secret, only when this call generated it


class CredentialInputError(ValueError):
    """A name, key or secret a credential cannot have; ``field`` says which (name, key, secret)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def _checked_text(field: str, value: str) -> None:
    """Text the database and a hash can take: no NUL (PostgreSQL text), no lone surrogate (a byte
    of a non-UTF-8 shell read with ``surrogateescape``, which UTF-8 cannot encode)."""
    limit = Credential._meta.get_field(field).max_length if field != "secret" else None
    if limit is not None and len(value) > limit:
        raise CredentialInputError(field, f"longer than {limit} characters")
    if problem := unstorable(value):
        raise CredentialInputError(field, problem)


def key_problem(key: str) -> str | None:
    """Why a key can never authenticate, or None: HTTP Basic splits the user-id from the password
    at the first colon (RFC 7617 section 2), so a key with one is never read whole. Shared by
    ``credential_input_check`` and the admin's credential form."""
    if ":" in key:
        return "contains a colon, which HTTP Basic reads as the end of the key (RFC 7617)"
    return None


def credential_input_check(*, name: str, key: str | None, secret: str | None) -> None:
    """Refuse, naming the field, what the credential named ``name`` cannot take: a column's limit
    or text the database cannot hold was a DataError or UnicodeEncodeError; an empty name made a
    nameless credential; a key with a colon can never authenticate (HTTP Basic splits the user-id
    from the password at the first colon, RFC 7617 section 2); another credential's key was an
    IntegrityError."""
    if not name.strip():
        raise CredentialInputError("name", "required")
    _checked_text("name", name)
    if key:
        _checked_text("key", key)
        if problem := key_problem(key):
            raise CredentialInputError("key", problem)
        if Credential.objects.filter(key=key).exclude(name=name).exists():
            raise CredentialInputError("key", "already the key of another credential")
    if secret:
        _checked_text("secret", secret)


@transaction.atomic
def credential_upsert(
    *,
    name: str,
    scopes: list[str],
    key: str | None = None,
    secret: str | None = None,
    is_active: bool = True,
    expires_at: datetime | None = None,
    no_expiry: bool = False,
) -> CredentialUpsertResult:
    """Create the credential named ``name`` or update it in place (idempotent for provisioning).

    A new credential gets a generated key/secret unless given; an existing one keeps
    its key, secret and expiry unless new ones are given (``no_expiry``: it never expires).
    Raises :class:`CredentialInputError` for a name, key or secret it cannot take.
    """
    credential_input_check(name=name, key=key, secret=secret)
    credential = Credential.objects.select_for_update().filter(name=name).first()
    created = credential is None
    if credential is None:
        credential = Credential(name=name)
    generated_key = False
    generated_secret = None
    if key:
        credential.key = key
    elif created:
        credential.key = Credential.generate_key()
        generated_key = True
    if secret:
        credential.set_secret(secret)
    elif created:
        generated_secret = Credential.generate_secret()
        credential.set_secret(generated_secret)
    if expires_at is not None or no_expiry:
        credential.expires_at = expires_at
    credential.scopes = scopes
    credential.is_active = is_active
    credential.save()
    return CredentialUpsertResult(credential, created, generated_key, generated_secret)
