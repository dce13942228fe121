"""Celery tasks: the nightly reconciliation of every enabled target (Celery beat,
``LRS_RECONCILE_HOUR``) and one target on demand (the admin's action). Thin: ids and ISO times in,
the work in ``run.reconcile``."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from adapters.alerts.evaluate import evaluate
from adapters.alerts.rules import RULES_BY_NAME
from adapters.models import Target
from adapters.reconciliation.run import reconcile

RECONCILE_TASK = "adapters.reconcile"


def drift_judged(target: Target) -> None:
    """The drift alert, right after a run (the other rules are judged every minute by beat)."""
    evaluate(rules=(RULES_BY_NAME["drift"],), target_ids=[target.id])


NIGHTLY_TASK = "adapters.reconcile_nightly"
logger = logging.getLogger(__name__)


def default_window(now: datetime) -> tuple[datetime, datetime]:
    """Yesterday (UTC) plus ``LRS_RECONCILE_OVERLAP_DAYS`` (1) before it: by default from midnight
    two days ago to midnight today."""
    today = datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)
    return today - timedelta(days=1 + settings.LRS_RECONCILE_OVERLAP_DAYS), today


@shared_task(name=RECONCILE_TASK, ignore_result=True)
def reconcile_target(target_id: int, since: str, until: str, repair: bool = False) -> int | None:
    target = Target.objects.filter(id=target_id).first()
    if target is None:
        return None
    run = reconcile(
        target=target, since=datetime.fromisoformat(since), until=datetime.fromisoformat(until), repair=repair
    )
    drift_judged(target)
    logger.info(
        "reconciliation of %s: drift %.3f %% (%s)",
        target.name,
        run.drift_percent,
        ", ".join(f"{k} {v}" for k, v in run.counts.items()),
    )
    return run.pk


@shared_task(name=NIGHTLY_TASK, ignore_result=True)
def reconcile_nightly() -> int:
    """Every enabled target over the default window; one failing target does not stop the others
    (its error is recorded on its run)."""
    since, until = default_window(timezone.now())
    done = 0
    for target in Target.objects.filter(enabled=True).exclude(receives=Target.RECEIVES_ALERTS):
        try:
            reconcile(target=target, since=since, until=until)
            drift_judged(target)
            done += 1
        except Exception:  # recorded on the run; the next target still runs
            logger.exception("reconciliation of %s failed", target.name)
    return done
