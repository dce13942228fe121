"""Retention: data kept no longer than the policy says (GDPR Art. 5(1)(e), storage limitation).

Per area, a number of days (0: kept forever), applied nightly by Celery beat
(``adapters.apply_retention``) or ``manage.py apply_retention``:

- statements stored more than ``LRS_RETENTION_DAYS`` ago: ``LRS_RETENTION_MODE`` ``delete``
  removes them with their index rows, the attachment bytes no other statement references, their
  deliveries, attempts and marketplace evidence (marking the skill records it was evidence of:
  ``SkillRecord.evidence_aged_out``); ``pseudonymise`` keeps them with every person in them
  replaced by a stable keyed pseudonym (``lrs.statements.erasure``, as an erasure does, on a
  homePage of its own: ``retention_pseudonym_homepage``, not taken for an erased person). A
  statement with a delivery still open (pending, retrying, in flight, held, or outcome unknown)
  or in an outbox batch not yet expanded is kept and counted: the fan-out still needs it; so is
  a voiding statement whose target stays (stored after it, or kept for an open delivery), until
  the target goes (``voiding_statements_holding_targets``, Data 2.3.2). ``delete`` also keeps, and
  counts apart, a statement whose retraction is dead until an operator has it resent
  (``retention_kept.dead_retractions``: the target still holds its effect);
- state and agent-profile documents last changed more than ``LRS_DOCUMENT_RETENTION_DAYS`` ago
  are deleted (activity profiles name no person and are kept);
- the bodies of delivery attempts (the error text, the target's response excerpt) started more
  than ``LRS_ATTEMPT_BODY_RETENTION_DAYS`` (30) ago are emptied; the attempt rows stay.

Work goes in batches of ``LRS_RETENTION_BATCH_SIZE`` rows, one transaction each, walking an index
in order, so locks, memory and the write-ahead log stay bounded whatever the backlog; every batch
is logged. Each run is a ``RetentionRun`` with its cut-offs and counts (updated after each batch,
so a run that died shows how far it got). Runs may overlap safely: a batch locks the deliveries it
judges, and deleting what is already gone deletes nothing.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from adapters.identity.resolution import retention_pseudonym_homepage
from adapters.models import Attempt, Delivery, RetentionRun, SkillEvidence, SkillRecord, skill_records_locked
from adapters.privacy.erasure import pseudonym
from adapters.privacy.retention_kept import dead_retractions, still_needed
from adapters.redaction import redacted_text
from lrs.documents.models import Document
from lrs.statements.erasure import (
    delete_statements,
    keep_voiding_statements,
    pseudonymise_statements,
    voiding_statements_holding_targets,
)
from lrs.statements.models import Statement, StatementAgent

logger = logging.getLogger(__name__)

DELETE = "delete"
PSEUDONYMISE = "pseudonymise"
MODES = (DELETE, PSEUDONYMISE)
AREAS = ("statements", "documents", "attempt_bodies")


@dataclass(frozen=True)
class Policy:
    """Days per area (0: kept forever), the statements' mode and the batch size."""

    statement_days: int = 0
    mode: str = DELETE
    document_days: int = 0
    attempt_body_days: int = 30
    batch_size: int = 1000

    @classmethod
    def from_settings(cls) -> Policy:
        return cls(
            statement_days=settings.LRS_RETENTION_DAYS,
            mode=settings.LRS_RETENTION_MODE,
            document_days=settings.LRS_DOCUMENT_RETENTION_DAYS,
            attempt_body_days=settings.LRS_ATTEMPT_BODY_RETENTION_DAYS,
            batch_size=settings.LRS_RETENTION_BATCH_SIZE,
        )

    def cutoffs(self, now: datetime) -> dict[str, datetime | None]:
        """Per area, the time before which rows go (None: kept forever)."""

        def before(days: int) -> datetime | None:
            return now - timedelta(days=days) if days > 0 else None

        return {
            "statements": before(self.statement_days),
            "documents": before(self.document_days),
            "attempt_bodies": before(self.attempt_body_days),
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


_COUNT_NAMES = {
    DELETE: (
        "statements_deleted",
        "statements_kept_open",
        "statements_kept_voiding",
        "statements_kept_for_dead_retractions",
        "agent_index_rows",
        "activity_index_rows",
        "attachments_deleted",
        "deliveries_deleted",
        "attempts_deleted",
        "evidence_deleted",
        "documents_deleted",
        "attempt_bodies_pruned",
    ),
    PSEUDONYMISE: (
        "statements_pseudonymised",
        "statements_kept_open",
        "documents_deleted",
        "attempt_bodies_pruned",
    ),
}


class _Run:
    """One run's counts, logged and saved on its ``RetentionRun`` after every batch."""

    def __init__(self, record: RetentionRun) -> None:
        self.record = record
        self.counts: Counter[str] = Counter()

    def batch(self, area: str, done: Counter[str]) -> None:
        self.counts.update(done)
        self.record.counts = dict(self.counts)
        self.record.save(update_fields=["counts"])
        logger.info(
            "retention run %s, %s: batch %s; so far %s",
            self.record.pk,
            area,
            ", ".join(f"{name} {value}" for name, value in sorted(done.items())) or "nothing",
            ", ".join(f"{name} {value}" for name, value in sorted(self.counts.items())),
        )


def apply_retention(*, policy: Policy | None = None, now: datetime | None = None) -> RetentionRun:
    """Apply the policy once (see the module docstring); returns the run's record."""
    policy = policy or Policy.from_settings()
    if policy.mode not in MODES:
        raise ValueError(f"retention mode must be delete or pseudonymise, not {policy.mode!r}")
    now = now or timezone.now()
    cutoffs = policy.cutoffs(now)
    record = RetentionRun.objects.create(mode=policy.mode, cutoffs={k: _iso(v) for k, v in cutoffs.items()})
    run = _Run(record)
    # Every area's count is present, zero or not, so two runs compare at a glance.
    run.counts.update(dict.fromkeys(_COUNT_NAMES[policy.mode], 0))
    try:
        if cutoffs["statements"] is not None:
            resume_from = _statements(run, policy, cutoffs["statements"])
            if policy.mode == PSEUDONYMISE:
                record.cutoffs = {**record.cutoffs, "statements_resume_from": _iso(resume_from)}
        if cutoffs["documents"] is not None:
            _documents(run, policy.batch_size, cutoffs["documents"])
        if cutoffs["attempt_bodies"] is not None:
            _attempt_bodies(run, policy.batch_size, cutoffs["attempt_bodies"])
    except Exception as exc:
        record.error = redacted_text(f"{type(exc).__name__}: {exc}")  # kept for the admin
        logger.exception("retention run %s failed", record.pk)
        raise
    finally:
        record.counts = dict(run.counts)
        record.finished_at = timezone.now()
        record.save(update_fields=["counts", "cutoffs", "error", "finished_at"])
    logger.info(
        "retention run %s done: %s", record.pk, ", ".join(f"{k} {v}" for k, v in sorted(run.counts.items()))
    )
    return record


# Statements ---------------------------------------------------------------------------------------


def _statement_keys(
    cutoff: datetime, start: datetime | None, after: tuple[datetime, int] | None, limit: int
) -> list[tuple[datetime, int]]:
    """The next batch of statements stored before the cut-off, in (stored, id) order: the
    ``stmt_stored`` index, entered at the cursor."""
    rows = Statement.objects.filter(stored__lt=cutoff)
    if start is not None:
        rows = rows.filter(stored__gte=start)
    if after is not None:
        stored, pk = after
        rows = rows.filter(Q(stored__gte=stored) & (Q(stored__gt=stored) | Q(id__gt=pk)))
    return list(rows.order_by("stored", "id").values_list("stored", "id")[:limit])


def delete_batch(pks: list[int], kept_voiding: list[int] | None = None) -> Counter[str]:
    """Delete these statements (those the fan-out does not still need) with everything keyed by
    them, in one transaction. A voiding statement whose target stays is kept instead, its people
    pseudonymised and cut down to what voids, and counted; or, given ``kept_voiding``, added to it
    for the caller to try again, cut down and count once its walk is over."""
    done: Counter[str] = Counter()
    with transaction.atomic():
        needed = still_needed(pks)
        dead = dead_retractions(pks) - needed  # kept for an operator to resend
        holding = voiding_statements_holding_targets(pk for pk in pks if pk not in needed | dead)
        gone = [pk for pk in pks if pk not in needed | dead | holding]
        done["statements_kept_open"] = len(needed)
        done["statements_kept_for_dead_retractions"] = len(dead)
        if kept_voiding is not None:
            kept_voiding.extend(sorted(holding))
        else:
            if holding:
                keep_voiding_statements(holding, retention_pseudonym, leave=_kept_agents())
            done["statements_kept_voiding"] = len(holding)
        if gone:
            # The fan-out's rows first: the statement service deletes only the store's own.
            done["attempts_deleted"] = Attempt.objects.filter(delivery__statement_id__in=gone).delete()[0]
            _total, per_model = Delivery.objects.filter(statement_id__in=gone).delete()
            done["deliveries_deleted"] = per_model.get(Delivery._meta.label, 0)
            done["evidence_deleted"] = _evidence_delete(gone)
            removed = delete_statements(gone)
            done["statements_deleted"] = removed["statements"]
            done["agent_index_rows"] = removed["agent_index_rows"]
            done["activity_index_rows"] = removed["activity_index_rows"]
            done["attachments_deleted"] = removed["attachments"]
    return done


def retention_pseudonym(ifi: str) -> dict[str, str]:
    """An erasure's pseudonym of the IFI on retention's own homePage (``retention_pseudonym_homepage``):
    the PMS still hears of a void of the statement, as of one never aged out."""
    return pseudonym(ifi, retention_pseudonym_homepage())


def _evidence_delete(pks: list[int]) -> int:
    """Delete the statements' marketplace evidence; the records it evidenced are marked
    (``SkillRecord.evidence_aged_out``): the marketplace keeps them as sent until a later
    delivery recomputes them, which reconciliation does not judge before."""
    evidence = SkillEvidence.objects.filter(statement_id__in=pks)
    of_record = evidence.filter(
        target_id=OuterRef("target_id"),
        member_id=OuterRef("member_id"),
        competency_code=OuterRef("competency_code"),
    )
    # Locked in the one order, before the evidence (``models.skills.skill_records_locked``).
    marked = skill_records_locked(SkillRecord.objects.filter(Exists(of_record)))
    SkillRecord.objects.filter(pk__in=list(marked.values_list("pk", flat=True))).update(
        evidence_aged_out=True
    )
    return evidence.delete()[0]


def _kept_agents() -> tuple[str, ...]:
    """IFI prefixes pseudonymisation leaves alone: pseudonyms already, an erasure's or its own (so a
    second run changes nothing), and the LRS's own credentials named as authority (no person)."""
    return (
        f"account::{settings.LRS_PSEUDONYM_HOMEPAGE}::",
        f"account::{retention_pseudonym_homepage()}::",
        f"account::{settings.LRS_AUTHORITY_HOMEPAGE}::",
    )


def pseudonymise_batch(pks: list[int]) -> Counter[str]:
    """Pseudonymise every person in these statements (those the fan-out does not still need), in
    one transaction."""
    done: Counter[str] = Counter()
    with transaction.atomic():
        needed = still_needed(pks)
        todo = [pk for pk in pks if pk not in needed]
        done["statements_kept_open"] = len(needed)
        kept = _kept_agents()
        ifis = {
            ifi
            for ifi in StatementAgent.objects.filter(statement_id__in=todo).values_list(
                "agent_ifi", flat=True
            )
            if not ifi.startswith(kept)
        }
        if ifis:
            done["statements_pseudonymised"] = pseudonymise_statements(todo, ifis, retention_pseudonym)
    return done


def _resume_from(mode: str) -> datetime | None:
    """Where a pseudonymising walk starts: everything stored before the previous finished run's
    resume point is pseudonymised already (statements kept for an open delivery move the point
    back to the first of them). Delete mode needs none: what it removed is gone."""
    if mode != PSEUDONYMISE:
        return None
    previous = (
        RetentionRun.objects.filter(mode=PSEUDONYMISE, finished_at__isnull=False, error="")
        .order_by("-started_at", "-id")
        .first()
    )
    value = previous.cutoffs.get("statements_resume_from") if previous is not None else None
    return datetime.fromisoformat(value) if value else None


def _statements(run: _Run, policy: Policy, cutoff: datetime) -> datetime:
    """Walk the statements stored before the cut-off in batches; returns the resume point for the
    next pseudonymising run (the first statement kept, else the cut-off)."""
    kept_voiding: list[int] = []
    batch: Callable[[list[int]], Counter[str]] = (
        partial(delete_batch, kept_voiding=kept_voiding) if policy.mode == DELETE else pseudonymise_batch
    )
    start = _resume_from(policy.mode)
    first_kept: datetime | None = None
    after: tuple[datetime, int] | None = None
    while keys := _statement_keys(cutoff, start, after, policy.batch_size):
        done = batch([pk for _stored, pk in keys])
        if done["statements_kept_open"] and first_kept is None:
            first_kept = keys[0][0]  # the batch's first: conservative, and one value to keep
        run.batch("statements", done)
        if len(keys) < policy.batch_size:
            break
        after = keys[-1]
    # Voiding statements kept by the walk, tried again, cut down and counted: one kept for a target
    # a later batch deleted goes now, not next night.
    for start_at in range(0, len(kept_voiding), policy.batch_size):
        run.batch(
            "voiding statements kept", delete_batch(kept_voiding[start_at : start_at + policy.batch_size])
        )
    return first_kept or cutoff


# Documents and attempt bodies ---------------------------------------------------------------------


def _old_documents(cutoff: datetime) -> Q:
    # State and agent-profile documents name a person; activity profiles do not (agent_ifi "").
    return Q(updated__lt=cutoff) & ~Q(agent_ifi="")


def documents_batch(ids: list[int]) -> Counter[str]:
    with transaction.atomic():
        deleted = Document.objects.filter(id__in=ids).delete()[0]
    return Counter(documents_deleted=deleted)


def _documents(run: _Run, batch_size: int, cutoff: datetime) -> None:
    last_id = 0
    while ids := list(
        Document.objects.filter(_old_documents(cutoff), id__gt=last_id)
        .order_by("id")
        .values_list("id", flat=True)[:batch_size]
    ):
        run.batch("documents", documents_batch(ids))
        if len(ids) < batch_size:
            break
        last_id = ids[-1]


def _bodies_left(cutoff: datetime) -> Q:
    return Q(started_at__lt=cutoff) & ~Q(error="", response_excerpt="", request="")


def attempt_bodies_batch(ids: list[int]) -> Counter[str]:
    with transaction.atomic():
        pruned = Attempt.objects.filter(id__in=ids).update(error="", response_excerpt="", request="")
    return Counter(attempt_bodies_pruned=pruned)


def _attempt_bodies(run: _Run, batch_size: int, cutoff: datetime) -> None:
    """Attempts keep their outcome, status code and timing; the texts that may quote a learner go.
    Walked by id from the oldest: attempts are written in ``started_at`` order, give or take the
    length of one attempt."""
    last_id = 0
    while ids := list(
        Attempt.objects.filter(_bodies_left(cutoff), id__gt=last_id)
        .order_by("id")
        .values_list("id", flat=True)[:batch_size]
    ):
        run.batch("attempt bodies", attempt_bodies_batch(ids))
        if len(ids) < batch_size:
            break
        last_id = ids[-1]
