"""Privacy records: erasure requests and retention runs. Neither holds personal data: an erasure
request keeps a keyed hash of the identifiers it erased (so a repeat is recognised), never the
identifiers."""

from __future__ import annotations

from django.db import models


class ErasureRequest(models.Model):
    """One erasure of a person (``manage.py erase_actor``, the admin, the privacy API): who asked,
    when, how, what it removed or pseudonymised per store area, and which targets were told."""

    DELETE = "delete"
    PSEUDONYMISE = "pseudonymise"
    MODES = [(DELETE, "delete"), (PSEUDONYMISE, "pseudonymise")]
    # Retracting: the statements are pseudonymised and hidden, the targets' effects are being
    # retracted; in delete mode the rows go once every retraction has settled (the sweep).
    RETRACTING = "retracting"
    DONE = "done"
    STATUSES = [(RETRACTING, "retracting at targets"), (DONE, "done")]

    requested_at = models.DateTimeField(auto_now_add=True, db_index=True)
    requested_by = models.CharField(max_length=200)
    mode = models.CharField(max_length=12, choices=MODES)
    subject_hash = models.CharField(max_length=64, db_index=True, help_text="keyed hash of the identifiers")
    identifiers = models.PositiveIntegerField(default=0, help_text="how many identifiers were erased")
    counts = models.JSONField(default=dict, help_text="rows removed or pseudonymised, per store area")
    targets = models.JSONField(default=dict, help_text="per target: retract, notify or ignore, and how many")
    statement_pks = models.JSONField(default=list, help_text="the own statements, until the erasure finished")
    other_statement_pks = models.JSONField(
        default=list, help_text="others' statements naming the person, until the erasure finished"
    )
    status = models.CharField(max_length=12, choices=STATUSES, default=DONE)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"erasure #{self.pk} ({self.mode}, {self.requested_at:%Y-%m-%d %H:%M:%S})"


class ErasedStatement(models.Model):
    """A statement id a delete-mode erasure removed, as a keyed hash (``erased_statement_digest``):
    a client may store the id again (a new record), whose deliveries then need keys of their own
    (``adapters.delivery.outbox.idempotency_key``)."""

    digest = models.CharField(max_length=64, unique=True)
    erased_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"statement id erased {self.erased_at:%Y-%m-%d %H:%M:%S}"


class RetentionRun(models.Model):
    """One run of the retention policy (the nightly task): the cut-off per area and the counts."""

    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    mode = models.CharField(max_length=12)
    cutoffs = models.JSONField(default=dict, help_text="per area, the time before which rows went")
    counts = models.JSONField(default=dict, help_text="per area, rows deleted, pseudonymised or pruned")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"retention run #{self.pk} ({self.started_at:%Y-%m-%d %H:%M:%S})"
