"""Identity links (actor identifiers to an employee id) and the OAuth tokens kept for targets."""

from __future__ import annotations

from django.db import models


class IdentityLink(models.Model):
    """One identifier of an employee: the link from an xAPI actor to the HRIS employee id.

    ``lookup_key`` is what resolution matches on: ``email:<normalised address>`` for mbox
    identifiers (so aliases and case meet), otherwise the actor's canonical IFI.
    """

    employee_id = models.CharField(max_length=200, db_index=True)
    kind = models.CharField(max_length=20)  # email, mbox_sha1sum, openid, account
    value = models.CharField(max_length=500)
    lookup_key = models.CharField(max_length=600)
    source = models.CharField(max_length=20, default="admin")  # admin, csv, api
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["employee_id", "lookup_key"], name="identity_link_once"),
        ]
        indexes = [models.Index(fields=["lookup_key"], name="identity_lookup")]

    def __str__(self) -> str:
        return f"{self.employee_id} <- {self.kind} {self.value}"


class StoredToken(models.Model):
    """A rotating credential the LRS must keep (e.g. a Microsoft refresh token, renewed on every
    use), encrypted with a key derived from SECRET_KEY; see adapters/msteams/token_store.py."""

    key = models.CharField(max_length=200, unique=True)
    ciphertext = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.key
