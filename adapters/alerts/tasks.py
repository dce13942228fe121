"""Celery beat: evaluate the alert rules every ``LRS_ALERT_EVALUATE_SECONDS`` (60)."""

from __future__ import annotations

from celery import shared_task

from adapters.alerts.evaluate import evaluate

EVALUATE_TASK = "adapters.alerts_evaluate"


@shared_task(name=EVALUATE_TASK, ignore_result=True)
def evaluate_alerts() -> int:
    return evaluate()
