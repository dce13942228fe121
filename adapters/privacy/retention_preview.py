"""The retention policy's dry run (``manage.py apply_retention --dry-run``): what a run would do
now, per area, changing nothing (``adapters.privacy.retention``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from adapters.models import Attempt, Delivery, OutboxBatch
from adapters.privacy.retention import (
    DELETE,
    Policy,
    _bodies_left,
    _iso,
    _old_documents,
    _resume_from,
)
from adapters.privacy.retention_kept import OPEN, has_dead_retraction
from lrs.documents.models import Document
from lrs.statements.models import Statement


def retention_preview(*, policy: Policy | None = None, now: datetime | None = None) -> dict[str, Any]:
    """What a run would do now, changing nothing: the cut-offs and, per area, how many rows."""
    policy = policy or Policy.from_settings()
    cutoffs = policy.cutoffs(now or timezone.now())
    counts: dict[str, int] = {}
    if (cutoff := cutoffs["statements"]) is not None:
        old = Statement.objects.filter(stored__lt=cutoff)
        if (start := _resume_from(policy.mode)) is not None:
            old = old.filter(stored__gte=start)
        still_open = Exists(Delivery.objects.filter(statement_id=OuterRef("id"), status__in=OPEN))
        # Or in an outbox batch not yet expanded (``retention_kept.still_needed``): few rows, read whole.
        unexpanded = {pk for pks in OutboxBatch.objects.values_list("statement_pks", flat=True) for pk in pks}
        still_open = still_open | Q(id__in=sorted(unexpanded))
        kept = old.filter(still_open).count()
        verb = "deleted" if policy.mode == DELETE else "pseudonymised"
        counts[f"statements_{verb}"] = old.count() - kept
        counts["statements_kept_open"] = kept
        if policy.mode == DELETE:  # kept for a dead retraction; voiding statements whose target stays
            dead = old.filter(has_dead_retraction()).exclude(still_open).count()
            counts["statements_deleted"] -= dead
            counts["statements_kept_for_dead_retractions"] = dead
            target_stays = Statement.objects.filter(
                Q(stored__gte=cutoff)
                | Exists(Delivery.objects.filter(statement_id=OuterRef("id"), status__in=OPEN))
                | Q(id__in=sorted(unexpanded))
                | has_dead_retraction(),
                statement_id=OuterRef("object_statement_id"),
                is_voiding=False,
            )
            holding = old.filter(Exists(target_stays), is_voiding=True).exclude(still_open).count()
            counts["statements_deleted"] -= holding
            counts["statements_kept_voiding"] = holding
    if (cutoff := cutoffs["documents"]) is not None:
        counts["documents_deleted"] = Document.objects.filter(_old_documents(cutoff)).count()
    if (cutoff := cutoffs["attempt_bodies"]) is not None:
        counts["attempt_bodies_pruned"] = Attempt.objects.filter(_bodies_left(cutoff)).count()
    return {"mode": policy.mode, "cutoffs": {k: _iso(v) for k, v in cutoffs.items()}, "counts": counts}
