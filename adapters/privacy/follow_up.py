"""The erasure's follow-up as a Celery task (``adapters.finish_erasures``, every minute by beat):
delete-mode erasures finish once their retractions have settled."""

from __future__ import annotations

from celery import shared_task

from adapters.privacy.erasure import finish_erasures

FINISH_ERASURES_TASK = "adapters.finish_erasures"


@shared_task(name=FINISH_ERASURES_TASK, ignore_result=True)
def finish_erasures_task() -> int:
    return finish_erasures()
