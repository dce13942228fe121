"""Handing work to workers: one drain message per target, never one per delivery.

Deliveries wait in their table; a worker's ``drain`` task (``adapters.delivery.drain``) claims a
target's due ones in batches until none is left. So a backlog of any size costs the broker a
message or two per target (``request_drain`` keeps at most ``LRS_DRAIN_PARALLELISM`` drains
per target queued or running, by a key in the shared cache), and no message is ever a duplicate
of work another message already stands for. After commit only: a drain must never look before
the rows it is meant for exist. If the broker is down, the request is dropped and the sweep
(``adapters.delivery.sweep``) asks again when it is back: a broker outage delays deliveries but
loses none. With no broker (the quickstart), the drain runs in-process right after commit.

Tasks are named here and looked up in the Celery app by name: ``adapters.delivery.tasks`` defines
them on top of everything else in this package, and nothing below it imports it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from adapters.models import Delivery

logger = logging.getLogger(__name__)

DELIVER_TASK = "adapters.deliver"
DRAIN_TASK = "adapters.drain"
QUEUE_DELIVERIES_TASK = "adapters.queue_deliveries"
DISPATCH_BATCH_TASK = "adapters.dispatch_batch"
SWEEP_TASK = "adapters.sweep"


def task(name: str) -> object:
    """The registered Celery task of this name (``adapters.delivery.tasks`` registers them)."""
    return current_app.tasks[name]


def slot_key(target_id: int, slot: int) -> str:
    return f"lrs:drain:{target_id}:{slot}"


def slot_seconds() -> int:
    """How long a drain slot is held without a sign of life (the drain refreshes it per batch)."""
    return 2 * settings.LRS_DELIVERY_CLAIM_SECONDS + 60


def request_drain(target_id: int, *, at: datetime | None = None, after_commit: bool = True) -> None:
    """Make sure a drain will run for this target: now, or at ``at`` (a retry coming due). Does
    nothing when enough drains are already queued or running for it. ``after_commit``: the work is
    written by the current transaction, so ask once it commits (not needed when it is committed)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        if at is not None and at > timezone.now():
            return  # a retry in the future: the sweep loop runs it when it is due
        action: Callable[[], object] = lambda: _drain_here(target_id)  # noqa: E731
    elif at is not None and at > timezone.now():
        action = lambda: _wake_at(target_id, at)  # noqa: E731
    else:
        action = lambda: _take_slot_and_send(target_id)  # noqa: E731
    if after_commit:
        transaction.on_commit(action, robust=True)
    else:
        action()


def _take_slot_and_send(target_id: int) -> bool:
    for slot in range(settings.LRS_DRAIN_PARALLELISM):
        if cache.add(slot_key(target_id, slot), 1, timeout=slot_seconds()):
            if not publish(DRAIN_TASK, (target_id, slot)):
                cache.delete(slot_key(target_id, slot))  # the sweep asks again
                return False
            return True
    return False  # every slot is taken: those drains find this work


def wake_key(target_id: int) -> str:
    return f"lrs:drain-wake:{target_id}"


def _wake_at(target_id: int, at: datetime) -> None:
    """One wake-up per target at a time: retries that come due meanwhile wait for it (or for the
    sweep), never for a message each. The wake-up frees the key when it runs."""
    delay = max(0.0, (at - timezone.now()).total_seconds())
    if cache.add(wake_key(target_id), 1, timeout=int(delay) + 2):
        publish(DRAIN_TASK, (target_id, None), eta=at)


def publish(name: str, args: tuple, *, eta: datetime | None = None) -> bool:
    """One message to the workers; False (logged) when the broker refused it."""
    try:
        task(name).apply_async(args=args, eta=eta, retry=False)  # type: ignore[attr-defined]
        return True
    except Exception as exc:  # the broker is unreachable: the sweep asks again
        logger.warning("could not queue %s%s (%s: %s); the sweep will", name, args, type(exc).__name__, exc)
        return False


_inline = threading.local()


def _drain_here(target_id: int) -> None:
    """Without a broker: drain in this process, now. A drain already running here for the target
    (this call came from inside it) will see the new work itself."""
    running: set[int] = _inline.__dict__.setdefault("targets", set())
    if target_id in running:
        return
    running.add(target_id)
    try:
        task(DRAIN_TASK).apply(args=(target_id, None))  # type: ignore[attr-defined]
    finally:
        running.discard(target_id)


def drain_targets(target_ids: Iterable[int], *, after_commit: bool = True) -> None:
    for target_id in sorted(set(target_ids)):
        request_drain(target_id, after_commit=after_commit)


def after_commit(ids: Iterable[int]) -> None:
    """These deliveries are due (new, replayed, released): drain their targets after commit."""
    ids = list(ids)
    if ids:
        transaction.on_commit(lambda: drain_targets(_targets_of(ids)))


def after_commit_via_worker(ids: Iterable[int]) -> None:
    """Many deliveries at once (voiding's other statements): the same, one message per target."""
    after_commit(ids)


def _targets_of(delivery_ids: list[int]) -> list[int]:
    return list(Delivery.objects.filter(id__in=delivery_ids).values_list("target_id", flat=True).distinct())


def queue_each(delivery_ids: list[int]) -> int:
    """Messages queued by an earlier version (one per delivery or per list): drain their targets."""
    drain_targets(_targets_of(delivery_ids), after_commit=False)
    return len(delivery_ids)


def drain_now(delivery_ids: list[int]) -> None:
    """These committed deliveries are due: drain their targets (no transaction to wait for)."""
    if delivery_ids:
        drain_targets(_targets_of(delivery_ids), after_commit=False)
