"""The credential table: HTTP Basic key/secret pairs with their xAPI scopes."""

from __future__ import annotations

import hashlib
import hmac
import secrets as secrets_module
from datetime import datetime

from django.conf import settings
from django.db import models

from lrs.credentials import scopes as scope_rules


class Credential(models.Model):
    """An HTTP Basic key/secret pair with xAPI scopes. Only a SHA-256 digest of the secret is kept."""

    name = models.CharField(max_length=200, unique=True)
    key = models.CharField(max_length=100, unique=True)
    secret_digest = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list, help_text='xAPI scopes, e.g. ["all"] or ["statements/write"]')
    is_active = models.BooleanField(default=True)
    # Optional: a credential for a contractor or a migration stops working on its own (401).
    expires_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Optional: from then on the credential is refused (401). Empty: never.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def digest(secret: str) -> str:
        # API secrets are long random tokens, so a fast digest is enough and keeps
        # per-request authentication cheap (a PBKDF2 round per request would cap throughput).
        return hashlib.sha256(secret.encode()).hexdigest()

    @staticmethod
    def generate_key() -> str:
        return secrets_module.token_hex(16)

    @staticmethod
    def generate_secret() -> str:
        return secrets_module.token_urlsafe(32)

    def set_secret(self, secret: str) -> None:
        self.secret_digest = self.digest(secret)

    def check_secret(self, secret: str) -> bool:
        return hmac.compare_digest(self.secret_digest, self.digest(secret))

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def allows(self, *needed: str) -> bool:
        return scope_rules.allows(self.scopes, needed)

    @property
    def authority(self) -> dict:
        """The Agent the LRS names as ``authority`` of statements stored with this credential."""
        return {
            "objectType": "Agent",
            "name": self.name,
            "account": {"homePage": settings.LRS_AUTHORITY_HOMEPAGE, "name": self.key},
        }
