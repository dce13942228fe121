"""Writes of xAPI credentials (``credential_upsert``), shared by the management command and admin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from lrs.credentials.models import Credential


@dataclass
class CredentialUpsertResult:
    credential: Credential
    created: bool
    generated_key: bool
    generated_secret: str | None  # the secret, only when this call generated it


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
    """
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
