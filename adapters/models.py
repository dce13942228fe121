"""The fan-out's tables: targets, the delivery outbox, and every attempt.

``Delivery`` rows are written in the same transaction that stores the
statements (transactional outbox), so an accepted statement always has its
deliveries; ``Attempt`` rows record every try (pretix ``api/webhooks.py``).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from adapters.base import DELIVER, RETRACT
from adapters.config import ConfigProblem, validate_target_config


class Target(models.Model):
    """A configured adapter: where to deliver, with which configuration and statement filter."""

    SOURCE_ADMIN = "admin"
    SOURCE_FILE = "file"

    name = models.SlugField(max_length=100, unique=True)
    adapter = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    config = models.JSONField(default=dict, blank=True)
    filter = models.JSONField(
        default=dict, blank=True, help_text="Statement filter; empty = completed or scored"
    )
    rate_limit_per_second = models.FloatField(
        null=True, blank=True, help_text="Deliveries per second across all workers; empty = unlimited"
    )
    max_attempts = models.PositiveIntegerField(default=12)
    concurrency = models.PositiveSmallIntegerField(
        default=32, help_text="Requests in flight at once to this target, across all workers"
    )
    # Circuit breaker: after repeated failures the target is paused and probed, not hammered.
    consecutive_failures = models.PositiveIntegerField(default=0)
    paused_until = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.TextField(blank=True, default="")
    source = models.CharField(max_length=10, default=SOURCE_ADMIN, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        try:
            validate_target_config(adapter=self.adapter, config=self.config, filter_rules=self.filter)
        except ConfigProblem as problem:
            raise ValidationError({problem.field: problem.message}) from None


class Delivery(models.Model):
    """One statement to one target (or its retraction): the outbox row."""

    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    DEAD = "dead"
    CANCELLED = "cancelled"
    HELD = "held"
    # An attempt may have taken effect and the target offers no way to look (Teams): never
    # re-sent blindly; an admin marks it delivered or sends it again.
    UNKNOWN = "unknown"
    STATUSES = [
        (PENDING, "pending"),
        (IN_FLIGHT, "in flight"),
        (RETRYING, "retrying"),
        (DELIVERED, "delivered"),
        (DEAD, "dead letter"),
        (CANCELLED, "cancelled"),
        (HELD, "held"),
        (UNKNOWN, "outcome unknown"),
    ]
    OPEN = (PENDING, RETRYING, IN_FLIGHT)
    KINDS = [(DELIVER, "deliver"), (RETRACT, "retract")]

    # Both foreign keys are covered by the composite indexes below (no separate FK indexes:
    # every index costs on the ingest path, where the outbox rows are written).
    # No database constraints either (lrs/statements/models.py says why): the outbox rows are written with
    # their statements; deleting a target or a statement still cascades through Django.
    target = models.ForeignKey(
        Target, on_delete=models.CASCADE, related_name="deliveries", db_index=False, db_constraint=False
    )
    statement = models.ForeignKey(
        "lrs.Statement", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    statement_uuid = models.UUIDField()
    kind = models.CharField(max_length=10, choices=KINDS, default=DELIVER)
    status = models.CharField(max_length=10, choices=STATUSES, default=PENDING)
    idempotency_key = models.CharField(max_length=200)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # A retraction waits for the delivery it undoes (never sent before the original).
    depends_on = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    last_error = models.TextField(blank=True, default="")
    # A held delivery waits for this key (e.g. "email:ada@example.com") to become resolvable.
    held_key = models.CharField(max_length=500, blank=True, default="")
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    # The id the target gave the effect (the PMS's learning-event id): a retraction names it.
    external_id = models.CharField(max_length=200, blank=True, default="", db_default="")
    # An attempt may have taken effect without a success coming back (a timeout after sending,
    # a 5xx): voiding then retracts rather than only cancelling.
    maybe_applied = models.BooleanField(default=False, db_default=False)
    correlation_id = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Statement first: this index also answers "the deliveries of these statements"
            # (voiding, dispatch of a stored batch). The idempotency key is derived from the same
            # three values, so it needs no unique index of its own: every index costs on the
            # ingest path, where the outbox rows are written.
            models.UniqueConstraint(
                fields=["statement", "target", "kind"], name="delivery_once_per_statement_target_kind"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
            # What a drain claims: a target's open deliveries, oldest due first.
            models.Index(
                fields=["target", "next_attempt_at"],
                name="delivery_open",
                condition=models.Q(status__in=["pending", "retrying"]),
            ),
            # Target health (adapters.ops.selectors): dead letters and recent deliveries per target.
            # Partial, so rows enter them only when a worker finishes a delivery, never at ingest;
            # open rows are counted through delivery_due (status first).
            models.Index(fields=["target"], name="delivery_dead", condition=models.Q(status="dead")),
            models.Index(
                fields=["delivered_at", "target"],
                name="delivery_delivered",
                condition=models.Q(status="delivered"),
            ),
            models.Index(fields=["held_key"], name="delivery_held", condition=models.Q(status="held")),
            # Only retractions have one (most rows would otherwise add a NULL entry on ingest).
            models.Index(
                fields=["depends_on"],
                name="delivery_depends_on",
                condition=models.Q(depends_on__isnull=False),
            ),
        ]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.kind} {self.statement_uuid} -> {self.target_id}"


class OutboxBatch(models.Model):
    """The outbox entry of one stored batch: its statements that enabled targets take.

    Written in the transaction that stores the statements (one row per batch, whatever the
    number of statements and targets), and expanded soon after commit into one ``Delivery`` per
    (statement, matching target) by a worker (``adapters.delivery.outbox.outbox_expand``). So
    ingest cost does not grow with the number of targets, and nothing is lost if the broker or the
    web process fails after commit: the sweep expands what no worker did. The row is deleted once
    expanded.
    """

    # The smallest of statement_pks: a statement belongs to one batch, so it is unique, and
    # the web process knows it without asking a sequence.
    id = models.BigIntegerField(primary_key=True)
    statement_pks = models.JSONField(help_text="Keys of the batch's statements that targets take")
    last_statement_pk = models.BigIntegerField(help_text="The largest of statement_pks")
    target_ids = models.JSONField(help_text="The targets enabled when the batch was stored")
    correlation_id = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField()
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "outbox batches"

    def __str__(self) -> str:
        return f"batch of {len(self.statement_pks)} statements from {self.id}"


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


class CompetencyMapping(models.Model):
    """A version of the activity -> competency mapping (rules as JSON, see adapters/rules/competencies.py)."""

    version = models.CharField(max_length=50, unique=True)
    rules = models.JSONField(default=list)
    is_active = models.BooleanField(default=False, help_text="The version adapters use")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"competency mapping {self.version}{' (active)' if self.is_active else ''}"


class StoredToken(models.Model):
    """A rotating credential the LRS must keep (e.g. a Microsoft refresh token, renewed on every
    use), encrypted with a key derived from SECRET_KEY; see adapters/msteams/token_store.py."""

    key = models.CharField(max_length=200, unique=True)
    ciphertext = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.key


class Attempt(models.Model):
    SUCCESS = "success"
    RETRY = "retry"
    DEAD = "dead"
    HELD = "held"
    UNKNOWN = "unknown"
    OUTCOMES = [
        (SUCCESS, "success"),
        (RETRY, "will retry"),
        (DEAD, "dead letter"),
        (HELD, "held"),
        (UNKNOWN, "outcome unknown"),
    ]

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=OUTCOMES)
    error = models.TextField(blank=True, default="")
    response_excerpt = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["delivery", "number"]
        indexes = [models.Index(fields=["outcome", "started_at"], name="attempt_outcome_time")]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}: {self.outcome}"


class SkillEvidence(models.Model):
    """One statement evidencing one competency of one member, as a marketplace target took it
    (``adapters.marketplace``). The record the marketplace holds is computed from the live rows of
    its (target, member, competency): live = the statement is still stored and not voided. Written
    when the statement's delivery runs; the level is the one the mapping version gave then."""

    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="+", db_index=False)
    member_id = models.CharField(max_length=200)
    competency_code = models.CharField(max_length=200)
    statement = models.ForeignKey(
        "lrs.Statement", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    statement_uuid = models.UUIDField()
    activity_id = models.TextField()
    level = models.PositiveSmallIntegerField()
    score = models.FloatField(null=True, blank=True, help_text="0-100")
    completed = models.BooleanField()
    timestamp = models.DateTimeField(help_text="The statement's timestamp")
    mapping_version = models.CharField(max_length=50)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["target", "member_id", "competency_code", "statement"], name="skill_evidence_once"
            ),
        ]
        indexes = [models.Index(fields=["statement"], name="skill_evidence_statement")]

    def __str__(self) -> str:
        return f"{self.member_id} {self.competency_code} <- {self.statement_uuid}"


class SkillRecord(models.Model):
    """What a marketplace target holds for one member and competency, as far as we know: the
    record last sent and accepted (``record`` None: deleted, or never sent). A delivery whose
    recomputed record equals it sends nothing; reconciliation compares it with what the target
    reports. The row also carries the lease that serialises the deliveries changing it."""

    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="+", db_index=False)
    member_id = models.CharField(max_length=200)
    competency_code = models.CharField(max_length=200)
    record = models.JSONField(null=True, blank=True)
    # A write went out and no success came back (a timeout, a 5xx): what the marketplace holds is
    # not known, so the next recomputation sends whatever it gives.
    unconfirmed = models.BooleanField(default=False)
    # The delivery changing this record now, and until when (a lease: a worker that dies loses it
    # when it runs out; works through PgBouncer, unlike a session advisory lock).
    lease_token = models.CharField(max_length=64, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["target", "member_id", "competency_code"], name="skill_record_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.competency_code}"
