"""The delivery outbox and every attempt.

``Delivery`` rows are written in the same transaction that stores the statements (transactional
outbox), so an accepted statement always has its deliveries; ``Attempt`` rows record every try
(pretix ``api/webhooks.py``); an ``OutboxBatch`` stands for a stored batch's deliveries until a
worker writes them."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import models

from adapters.base import DELIVER, RETRACT
from adapters.models.targets import Target


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
    # The id the target gave the effect (the PMS's learning-event id): a retraction names it. Or,
    # written before a request goes out, where its effect will be (Slack: the channel), so a later
    # attempt looks there whatever the configuration says by then (``OutboundRequest.destination``).
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
            # Counts by status and the sweep's stuck rows. Not delivered rows, nearly all of them:
            # a delivery's last update would add an entry nothing reads (and the index would grow
            # with the history instead of staying the size of the work in hand).
            models.Index(
                fields=["status", "next_attempt_at"],
                name="delivery_due",
                condition=~models.Q(status="delivered"),
            ),
            # What a drain claims: a target's open deliveries, oldest due first.
            models.Index(
                fields=["target", "next_attempt_at"],
                name="delivery_open",
                condition=models.Q(status__in=["pending", "retrying"]),
            ),
            # Target health (adapters.ops.selectors) and the alert figures (adapters.alerts.figures):
            # a target's dead letters and deliveries since a time. Partial, so rows enter them only
            # when a worker finishes a delivery, never at ingest; open rows are counted through
            # delivery_due (status first). Target first: a quiet target's read of the last day
            # must not walk the entries of every other target in that day.
            models.Index(
                fields=["target", "updated_at"], name="delivery_dead", condition=models.Q(status="dead")
            ),
            models.Index(
                fields=["target", "delivered_at"],
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

    def maybe_applied_between(self) -> list[tuple[datetime, datetime]] | None:
        """When the attempts that may have taken effect ran, each from its start to its end, in
        time order, those that overlap merged: those recorded ``maybe_applied``, and a success (a
        delivered one sent again, as a forced backfill does). Each on its own, not one span from the
        first to the last: attempts hours apart would otherwise have a retry read all between.
        None when there is none to go by, or an earlier attempt left no record (the claim counted
        it, ``attempts`` being this one's number: a worker stopped before the sweep recorded
        such, migration 0030), whose time is then unknown: a retry looks from the creation on."""
        if not self.maybe_applied:
            return None
        ran = list(
            self.attempt_log.values_list("number", "started_at", "duration_ms", "maybe_applied", "outcome")
        )
        if set(range(1, self.attempts)) - {number for number, *_ in ran}:
            return None
        merged: list[tuple[datetime, datetime]] = []
        for _, start, ms, maybe, outcome in sorted(ran, key=lambda row: row[1]):
            if not (maybe or outcome == Attempt.SUCCESS):
                continue
            end = start + timedelta(milliseconds=ms)
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged or None


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
    # The request this attempt sent, as recorded for a failed attempt: method, URL, headers with
    # secrets redacted, body cut short (adapters.delivery.arrays.request_summary).
    request = models.TextField(blank=True, default="", db_default="")
    # Its request may have taken effect with no success back (``AdapterError.ambiguous``), or its
    # worker stopped mid-send (the sweep records it so, claimed to claim's end): when it ran is
    # where a retry looks for its effect (``Delivery.maybe_applied_between``).
    maybe_applied = models.BooleanField(default=False, db_default=False)

    class Meta:
        ordering = ["delivery", "number"]
        indexes = [models.Index(fields=["outcome", "started_at"], name="attempt_outcome_time")]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}: {self.outcome}"


def delivery_ids_of(rows: list[Delivery]) -> list[int]:
    """Ids of these (statement, target, kind) rows, whether just created or already there."""
    wanted = {(row.statement_id, row.target_id, row.kind) for row in rows}
    candidates = Delivery.objects.filter(
        statement_id__in={row.statement_id for row in rows},
        target_id__in={row.target_id for row in rows},
        kind__in={row.kind for row in rows},
    ).values_list("id", "statement_id", "target_id", "kind")
    return [pk for pk, *triple in candidates if tuple(triple) in wanted]


def deliveries_locked(rows: models.QuerySet[Delivery]) -> list[int]:
    """Lock these deliveries, by id (step 1 of the one lock order, ``skills.skill_records_locked``,
    after their statements and before attempts or skill records), and return their ids: a plain
    UPDATE or DELETE would lock them in whatever order its plan meets them."""
    return list(rows.select_for_update().order_by("id").values_list("id", flat=True))
