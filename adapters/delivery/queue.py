"""Handing work to workers: one drain message per target, never one per delivery.

Deliveries wait in their table; a worker's ``drain`` task (``adapters.delivery.drain``) claims a
target's due ones in batches until none is left. So a backlog of any size costs the broker a
message or two per target (``request_drain`` keeps at most ``LRS_DRAIN_PARALLELISM`` drains
per target queued or running, by a key in the shared cache), and no message is ever a duplicate
of work another message already stands for. After commit only: a drain must never look before
the rows it is meant for exist. If the broker is down, the request is dropped and the sweep
(``adapters.delivery.sweep``) asks again when it is back: a broker outage delays deliveries but
loses none. With no broker (the quickstart), the drain runs in-process right after commit.

The web process publishes its outbox batches' dispatch messages off the request thread
(``Publisher``, below): see its docstring.

Tasks are named here and looked up in the Celery app by name: ``adapters.delivery.tasks`` defines
them on top of everything else in this package, and nothing below it imports it.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
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
        if off_request() and not threading.current_thread().name.startswith("lrs-inprocess-drain"):
            action: Callable[[], object] = lambda: in_process_drains().submit([target_id])  # noqa: E731
        else:
            action = lambda: _drain_here(target_id)  # noqa: E731
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


# A retry due this little after the pending wake-up is served by it (the wake-up's drain finds
# it due, or arms the next wake-up): no message each for a burst of retries.
WAKE_SLACK_SECONDS = 0.05


def wake_key(target_id: int) -> str:
    return f"lrs:drain-wake:{target_id}"


def _wake_at(target_id: int, at: datetime) -> None:
    """At most one wake-up per target in flight, and it is the earliest one needed: a retry due
    later than the pending wake-up waits for it (a wake-up that finds nothing due arms the next
    one: ``drain.drain``), a retry due earlier gets a message of its own (a Retry-After of a
    minute must not hold back a retry due in a second). The key holds the wake-up's time; the
    wake-up frees it when it runs."""
    key, stamp = wake_key(target_id), at.timestamp()
    timeout = int(max(0.0, (at - timezone.now()).total_seconds())) + 2
    if not cache.add(key, stamp, timeout=timeout):
        pending = cache.get(key)
        if pending is not None and float(pending) <= stamp + WAKE_SLACK_SECONDS:
            return
        cache.set(key, stamp, timeout=timeout)  # a race here costs a spare wake-up, never a lost one
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


# -- publishing dispatch messages off the request thread ------------------------------


# Outbox batch ids per broker message at most (a message stays small whatever the load).
MAX_KEYS_PER_MESSAGE = 2000
# A message that gathered this many batches stretches the publisher's interval (sustained load:
# at a trickle, two batches within one interval happen by chance, three seldom).
GATHERED = 3
MIN_STRETCHED = 0.01  # the first stretch of a zero interval


class Publisher:
    """Publishing the dispatch messages of stored batches off the request thread.

    After a batch commits, its outbox batch id goes to this process's publisher thread, which sends
    them to the broker as ``adapters.dispatch_batch`` messages. No request waits for the broker, and
    a process sends at most one message per interval: the first batch after a quiet spell leaves
    at once, the batches committed within the interval gather and leave together. Under load a web
    process thus sends far fewer broker messages than it stores batches (one Celery publish costs
    about 0.5 ms of CPU alone, four times a raw Redis LPUSH, and 2-5 ms on a web process busy
    with requests, whose threads it contends with for the GIL: bench/README.md).

    The interval is ``min_interval`` (``LRS_DISPATCH_MIN_INTERVAL_MS``) for a trickle. While
    messages gather ``GATHERED`` batches or more (sustained load), it doubles, up to
    ``max_interval`` (``LRS_DISPATCH_MAX_INTERVAL_MS``); a message of two batches halves it, one of
    a single batch brings it back to the minimum. So a burst costs a few messages a second, and a
    trickle's effects wait about ``min_interval`` at most. A burst's effects wait up to
    ``max_interval`` more: little beside the backlog a burst leaves (and the fan-out yields to it
    anyway: ``pacing.ingest_first``).

    Nothing is lost if the publish fails or never happens: the outbox rows are committed.

    - The broker refuses: the batches get ``dispatched_at`` cleared, so the next sweep expands them.
    - The process dies before publishing: the batches stay, and the sweep expands any batch
      due for longer than its grace period (``adapters.delivery.sweep``).

    At exit, the publisher sends what it still holds.

    One daemon thread per process (started on first use, again in a forked child).
    """

    def __init__(
        self,
        publish: Callable[[list[int]], None],
        min_interval: float = 0.0,
        *,
        max_interval: float | None = None,
        name: str = "lrs-dispatch-publisher",
        exit_wait: float = 5.0,
    ) -> None:
        self._publish = publish
        self._min_interval = min_interval
        self._max_interval = max(min_interval, max_interval if max_interval is not None else min_interval)
        self._name = name
        self._exit_wait = exit_wait
        self._start_fresh()

    def _start_fresh(self) -> None:
        # Also in a forked child (gunicorn forks its workers): the parent's thread does not exist
        # there and its lock may have been held at the fork; its pending ids are the parent's.
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: list[int] = []
        self._busy = False
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._last_publish = float("-inf")
        self._interval = self._min_interval

    def submit(self, batch_ids: Sequence[int]) -> None:
        with self._lock:
            self._pending.extend(batch_ids)
            self._ensure_thread()
            self._wake.notify()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far was handed to the broker (or failed); True if so."""
        with self._lock:
            return self._wake.wait_for(lambda: not self._pending and not self._busy, timeout=timeout)

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._busy = False
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        me = threading.current_thread()
        while True:
            with self._lock:
                self._wake.wait_for(lambda: bool(self._pending) or self._thread is not me)
                if self._thread is not me:
                    return  # replaced by a newer thread: one taker, or it could publish nothing
                self._busy = True
            pause = self._last_publish + self._interval - time.monotonic()
            if pause > 0:
                time.sleep(pause)  # let the batches of this interval gather
            with self._lock:
                batch = self._pending[:MAX_KEYS_PER_MESSAGE]
                del self._pending[:MAX_KEYS_PER_MESSAGE]
            self._last_publish = time.monotonic()
            self._interval = self._next_interval(len(batch))
            try:
                self._publish(batch)
            except Exception:  # the publish function handles broker errors; anything else is a bug
                logger.exception("publishing the dispatch of %d outbox batches failed", len(batch))
            finally:
                with self._lock:
                    self._busy = False
                    self._wake.notify_all()

    def _next_interval(self, gathered: int) -> float:  # after a message of ``gathered`` batches
        if gathered >= GATHERED:
            return min(self._max_interval, max(2 * self._interval, MIN_STRETCHED))
        if gathered <= 1:
            return self._min_interval
        return max(self._min_interval, self._interval / 2)

    def drain_at_exit(self) -> None:
        """Publish what is left, in the calling thread (the daemon thread dies with the process)."""
        if self._pid != os.getpid():
            return
        self.flush(timeout=self._exit_wait)


_publishers: dict[str, Publisher] = {}
_publisher_lock = threading.Lock()


def publisher(
    publish: Callable[[list[int]], None],
    min_interval: float = 0.0,
    *,
    max_interval: float | None = None,
    name: str = "lrs-dispatch-publisher",
    exit_wait: float = 5.0,
) -> Publisher:
    """This process's publisher of this name (created on first use with these arguments)."""
    with _publisher_lock:
        if name not in _publishers:
            created = _publishers[name] = Publisher(
                publish, min_interval, max_interval=max_interval, name=name, exit_wait=exit_wait
            )
            atexit.register(created.drain_at_exit)
            os.register_at_fork(after_in_child=created._start_fresh)
        return _publishers[name]


# -- without a broker: deliveries off the request thread ------------------------------


def off_request() -> bool:
    """Without a broker, whether the in-process work runs on this process's delivery thread
    (``LRS_INPROCESS_DELIVERY=thread``: a server, so a slow target never slows a request) or in
    the calling thread once its transaction commits (``inline``: tests, which assert on effects
    right after a request)."""
    return settings.CELERY_TASK_ALWAYS_EAGER and settings.LRS_INPROCESS_DELIVERY == "thread"


class TargetDrains:
    """Without a broker: drains run on a few background threads of this process, one target per
    thread at a time (``LRS_INPROCESS_DRAIN_THREADS``), so a target that does not answer holds one
    thread and never the others' deliveries, nor a request. Work that arrives for a target whose
    drain is running marks it to run once more when done: nothing asked for is skipped. What is
    still undone when the process stops stays in the database for the sweep."""

    def __init__(self, threads: int) -> None:
        self._threads = threads
        self._start_fresh()

    def _start_fresh(self) -> None:  # also in a forked child: the parent's threads are not there
        self._lock = threading.Condition()
        self._queued: set[int] = set()  # waiting for a thread or running
        self._again: set[int] = set()  # running, and asked for again meanwhile
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, target_ids: Iterable[int]) -> None:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="lrs-inprocess-drain")
            for target_id in set(target_ids):
                if target_id in self._queued:
                    self._again.add(target_id)
                else:
                    self._queued.add(target_id)
                    self._pool.submit(self._run, target_id)

    def _run(self, target_id: int) -> None:
        from django.db import connection

        while True:
            try:
                _drain_here(target_id)
            except Exception:  # logged; the sweep asks again
                logger.exception("the in-process drain of target %s failed", target_id)
            finally:
                connection.close()  # the thread's own connection: not left open between bursts
            with self._lock:
                if target_id in self._again:
                    self._again.discard(target_id)
                    continue
                self._queued.discard(target_id)
                self._lock.notify_all()
                return

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until no drain is queued or running (tests, shutdown); True if so."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._queued, timeout=timeout)


_target_drains: TargetDrains | None = None


def in_process_drains() -> TargetDrains:
    """This process's ``TargetDrains`` (created on first use)."""
    global _target_drains
    with _publisher_lock:
        if _target_drains is None:
            _target_drains = TargetDrains(settings.LRS_INPROCESS_DRAIN_THREADS)
            atexit.register(lambda: _target_drains is not None and _target_drains.flush(30.0))
            os.register_at_fork(after_in_child=_target_drains._start_fresh)
        return _target_drains
