"""The retention policy as a Celery task (``adapters.apply_retention``), run nightly by beat at
``LRS_RETENTION_HOUR`` (3, UTC). Thin: the work and its record are in ``retention``."""

from __future__ import annotations

from celery import shared_task

from adapters.privacy.retention import apply_retention

RETENTION_TASK = "adapters.apply_retention"


@shared_task(name=RETENTION_TASK, ignore_result=True)
def apply_retention_task() -> int:
    """One run of the policy in the settings; returns its ``RetentionRun`` id."""
    return apply_retention().pk
