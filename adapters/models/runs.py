"""Long operations on a target and what they found: backfill runs (with their checkpoint),
reconciliation runs, and the alerts raised on what the runs and the deliveries show."""

from __future__ import annotations

from django.db import models

from adapters.models.targets import Target


class BackfillRun(models.Model):
    """One ``deliveries_backfill`` of a stored-time range into one target, and how far it got: the
    (stored, id) of the last statement it has handled, written in the same transaction as that
    page's delivery rows, so a run stopped anywhere resumes after the last page it committed."""

    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="backfills")
    since = models.DateTimeField(null=True, blank=True)
    until = models.DateTimeField(null=True, blank=True)
    force = models.BooleanField(default=False)
    after_stored = models.DateTimeField(null=True, blank=True)
    after_statement = models.BigIntegerField(null=True, blank=True)
    scanned = models.PositiveBigIntegerField(default=0, help_text="Statements read so far")
    counts = models.JSONField(default=dict, help_text="matched, created, requeued, skipped")
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["target", "finished_at"], name="backfill_target_open")]

    def __str__(self) -> str:
        state = "finished" if self.finished_at else f"at {self.scanned} statements"
        return f"backfill of {self.target.name} ({state})"


class ReconciliationRun(models.Model):
    """One comparison of what a target should hold for a window of stored time with what our
    deliveries say reached it and, where it can be read back, what it holds
    (``adapters.reconciliation``): the figures, the day buckets, a bounded list of mismatches."""

    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="reconciliations")
    since = models.DateTimeField()
    until = models.DateTimeField()
    read_back = models.BooleanField(default=False)
    repair = models.BooleanField(default=False)
    counts = models.JSONField(default=dict, help_text="expected, delivered, found, missing, extra, ...")
    drift_percent = models.FloatField(null=True, blank=True)
    success_percent = models.FloatField(null=True, blank=True)
    buckets = models.JSONField(default=list, help_text="per day: counts and whether the hashes match")
    mismatches = models.JSONField(default=list, help_text="the first mismatched keys, with their kind")
    error = models.TextField(blank=True, default="")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"reconciliation of {self.target.name} {self.since:%Y-%m-%d}..{self.until:%Y-%m-%d}"


class Alert(models.Model):
    """One alert rule's state for one target (``adapters.alerts``): raised when its figure crosses
    the threshold, cleared after the figure has been back within it for a few evaluations
    (hysteresis: a flapping figure gives one alert and one recovery). Each transition is one
    message to the alert targets; ``messages`` records every attempt to send it."""

    rule = models.CharField(max_length=40)
    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="alerts")
    raised = models.BooleanField(default=False)
    value = models.FloatField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    raised_at = models.DateTimeField(null=True, blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True)
    breaching_since = models.DateTimeField(null=True, blank=True)
    calm_evaluations = models.PositiveIntegerField(default=0)
    unsent = models.JSONField(default=list, help_text="transitions not yet told to every alert target")
    messages = models.JSONField(default=list, help_text="every attempt to send a transition")
    evaluated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "target"], name="alert_once_per_rule_target")]
        ordering = ["-raised", "rule"]

    def __str__(self) -> str:
        return f"{self.rule} on {self.target.name}: {'RAISED' if self.raised else 'ok'}"
