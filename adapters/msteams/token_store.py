"""Encrypted storage for rotating tokens (Fernet, key derived from SECRET_KEY).

A delegated Microsoft Graph refresh token is replaced by a new one each time it is
used; the first comes from a secret reference in the target configuration, later
ones are kept here, never in plain text, under a key naming the target's channel and
configured token (``TeamsAdapter._store_key``), until the identity platform refuses one. A
token an earlier version kept under its former key (``TeamsAdapter._legacy_store_key``) is read
once and moved.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

from adapters.models import StoredToken


def _fernet() -> Fernet:
    digest = hashlib.sha256(f"lrs-token-store:{settings.SECRET_KEY}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def token_get(key: str) -> str | None:
    row = StoredToken.objects.filter(key=key).first()
    if row is None:
        return None
    try:
        return _fernet().decrypt(row.ciphertext.encode()).decode()
    except InvalidToken:  # SECRET_KEY changed: fall back to the configured token
        return None


def token_put(key: str, value: str) -> None:
    ciphertext = _fernet().encrypt(value.encode()).decode()
    StoredToken.objects.update_or_create(key=key, defaults={"ciphertext": ciphertext})


def token_forget(key: str, value: str) -> None:
    """Drop the token stored under ``key`` if it still is ``value`` (one refused as revoked or
    expired), not a newer one another process stored meanwhile."""
    if token_get(key) == value:
        StoredToken.objects.filter(key=key).delete()
