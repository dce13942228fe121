"""The marketplace's state: competency mappings, the evidence a target took, the records it holds."""

from __future__ import annotations

from django.db import models
from django.db.models import Exists, OuterRef, QuerySet

from adapters.models.targets import Target


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
    # Set when the statement's actor was erased (adapters.privacy.erasure): the row no longer
    # counts as evidence, but still tells the retraction which record to recompute; it is deleted
    # once the retraction has settled.
    erased_at = models.DateTimeField(null=True, blank=True)
    # Set by the statement's delivery when the statement no longer evidences this (member,
    # competency): its identity link moved, or a corrected mapping no longer awards it. The row
    # no longer counts as evidence, for any delivery, but still tells the statement's retry which
    # record to recompute without it; ``evidence_drop`` deletes it once that record is sent.
    superseded = models.BooleanField(default=False)

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
    # Writes started so far and the one still unanswered (a digest of its delivery and content;
    # "" once answered): each write's Idempotency-Key carries its number, so a write is never taken
    # by the marketplace for an earlier one of the same content, while a retry of the write in
    # flight, which may have landed, keeps its number and so its key.
    writes = models.PositiveIntegerField(default=0)
    writing = models.CharField(max_length=32, blank=True, default="")
    # The delivery changing this record now, and until when (a lease: a worker that dies loses it
    # when it runs out; works through PgBouncer, unlike a session advisory lock).
    lease_token = models.CharField(max_length=64, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    # Set by retention when it deleted evidence of this record: the marketplace keeps the record
    # until a later delivery writes it again (which clears this); reconciliation meanwhile does not
    # judge a record the marketplace holds as last sent (README "Retention").
    evidence_aged_out = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["target", "member_id", "competency_code"], name="skill_record_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.competency_code}"


def skill_records_locked(records: QuerySet[SkillRecord]) -> QuerySet[SkillRecord]:
    """``records`` read under row locks taken in the one order of every transaction that locks
    several rows of the marketplace's state and what it hangs on (a delivery ending records'
    aged-out state, ``adapters.marketplace.skills.aged_out_end``; retention deleting statements,
    ``adapters.privacy.retention``; an erasure finishing, ``adapters.privacy.erasure._finish``):

    0. the statements, by id, where a transaction waits for them (a void's UPDATE, an erasure:
       ``per_target.statements_and_deliveries_locked``); retention takes them after their
       deliveries but ``SKIP LOCKED`` (``retention_kept.still_needed``), never waiting for one;
    1. the statements' deliveries, by id (``deliveries.deliveries_locked``: ``retention_kept.still_needed``,
       ``per_target.statements_and_deliveries_locked``: an erasure made, and finishing), before
       their attempts;
    2. skill records, by primary key (this);
    3. their evidence, read or deleted after (the statements' own delete cascades to it).

    An UPDATE or DELETE locks rows in whatever order its plan meets them, so each is locked first
    by a ``SELECT ... FOR UPDATE`` in this order: taken in two orders, two transactions each hold
    what the other waits for, and PostgreSQL aborts one (a deadlock)."""
    return records.select_for_update().order_by("pk")


def without_evidence(records: QuerySet[SkillRecord]) -> QuerySet[SkillRecord]:
    """Those of ``records`` no evidence row rests on any more (a deleting retention removed it)."""
    evidence = SkillEvidence.objects.filter(
        target_id=OuterRef("target_id"),
        member_id=OuterRef("member_id"),
        competency_code=OuterRef("competency_code"),
    )
    return records.exclude(Exists(evidence))


def unevidenced_held(target_id: int, member_ids: list[str]) -> QuerySet[SkillRecord]:
    """The members' records the target may hold (accepted, or a write unanswered) that no evidence
    row rests on any more: what an erasure revokes (``adapters.privacy.per_target``,
    ``adapters.marketplace.revocation``)."""
    held = SkillRecord.objects.filter(target_id=target_id, member_id__in=sorted(member_ids))
    return without_evidence(held.exclude(record__isnull=True, unconfirmed=False))
