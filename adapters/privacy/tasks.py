"""The privacy work as Celery tasks, thin (the work and its records are in ``erasure`` and
``retention``): ``adapters.finish_erasures``, every minute by beat (delete-mode erasures finish once
their retractions have settled), and ``adapters.apply_retention``, nightly by beat at
``LRS_RETENTION_HOUR`` (3, UTC)."""

from __future__ import annotations

from celery import shared_task

from adapters.privacy.erasure import finish_erasures
from adapters.privacy.retention import apply_retention

FINISH_ERASURES_TASK = "adapters.finish_erasures"
RETENTION_TASK = "adapters.apply_retention"


@shared_task(name=FINISH_ERASURES_TASK, ignore_result=True)
def finish_erasures_task() -> int:
    return finish_erasures()


@shared_task(name=RETENTION_TASK, ignore_result=True)
def apply_retention_task() -> int:
    """One run of the policy in the settings; returns its ``RetentionRun`` id."""
    return apply_retention().pk
