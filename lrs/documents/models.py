"""The table of the document resources.

``Document`` holds the documents of the State, Activity Profile and Agent Profile
resources (xAPI 1.0.3 Communication 2.3, 2.6, 2.7), told apart by ``kind``. A
document is identified by its kind, activity id, agent IFI, registration and
document id (stateId or profileId); the columns a kind does not use hold ``""``
(activity_id, agent_ifi) or NULL (registration). ``registration`` is the only
nullable part of the key, so uniqueness is two partial unique constraints (one
for documents without a registration, one for those with one): that is correct
on PostgreSQL and SQLite alike, where a plain unique constraint would treat two
NULL registrations as distinct.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from lrs.xapi.documents import DocumentKind


class Document(models.Model):
    class Kind(models.TextChoices):
        STATE = DocumentKind.STATE.value, "State"
        ACTIVITY_PROFILE = DocumentKind.ACTIVITY_PROFILE.value, "Activity profile"
        AGENT_PROFILE = DocumentKind.AGENT_PROFILE.value, "Agent profile"

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    activity_id = models.TextField(blank=True, default="", help_text="activityId; empty for agent profiles")
    agent_ifi = models.TextField(
        blank=True,
        default="",
        help_text="IFI of the agent (lrs.xapi.agents.agent_ifi); empty for activity profiles",
    )
    registration = models.UUIDField(null=True, blank=True, help_text="State only; NULL when none was given")
    document_id = models.TextField(help_text="stateId or profileId")
    content = models.BinaryField()
    content_type = models.CharField(max_length=255)
    etag = models.CharField(max_length=42, help_text='Quoted SHA-1 hex of the content: "<40 hex>"')
    updated = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "activity_id", "agent_ifi", "document_id"],
                condition=Q(registration__isnull=True),
                name="document_key_unique_no_registration",
            ),
            models.UniqueConstraint(
                fields=["kind", "activity_id", "agent_ifi", "registration", "document_id"],
                condition=Q(registration__isnull=False),
                name="document_key_unique_registration",
            ),
        ]
        indexes = [
            # The id lists (GET without stateId/profileId, optionally ?since=) and the
            # multiple-state DELETE: equality on the context, range on updated.
            models.Index(
                fields=["kind", "activity_id", "agent_ifi", "updated"], name="document_context_updated"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.document_id}"
