"""Publishing the dispatch messages of stored batches off the request thread.

After a batch commits, its outbox batch id goes to this process's publisher thread, which sends
them to the broker as ``adapters.dispatch_batch`` messages. No request waits for the broker, and
a process sends at most one message per ``min_interval`` (``LRS_DISPATCH_MIN_INTERVAL_MS``):
the first batch after a quiet spell leaves at once, the batches committed within the interval
gather and leave together. Under load a web process thus sends far fewer broker messages than it
stores batches (one Celery publish costs about 0.5 ms of CPU, four times a raw Redis LPUSH:
bench/results/fanout.json), at the price of at most ``min_interval`` of added delay.

Nothing is lost if the publish fails or never happens: the outbox rows are committed.

- The broker refuses: the batches get ``dispatched_at`` cleared, so the next sweep expands them.
- The process dies before publishing: the batches stay, and the sweep expands any batch
  due for longer than its grace period (``dispatch.sweep_due``).

At exit, the publisher sends what it still holds.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence

logger = logging.getLogger(__name__)

# Outbox batch ids per broker message at most (a message stays small whatever the load).
MAX_KEYS_PER_MESSAGE = 2000


class Publisher:
    """One daemon thread per process (started on first use, again in a forked child)."""

    def __init__(self, publish: Callable[[list[int]], None], min_interval: float = 0.0) -> None:
        self._publish = publish
        self._min_interval = min_interval
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
        self._thread = threading.Thread(target=self._run, name="lrs-dispatch-publisher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        me = threading.current_thread()
        while True:
            with self._lock:
                self._wake.wait_for(lambda: bool(self._pending) or self._thread is not me)
                if self._thread is not me:
                    return  # replaced by a newer thread: one taker, or it could publish nothing
                self._busy = True
            pause = self._last_publish + self._min_interval - time.monotonic()
            if pause > 0:
                time.sleep(pause)  # let the batches of this interval gather
            with self._lock:
                batch = self._pending[:MAX_KEYS_PER_MESSAGE]
                del self._pending[:MAX_KEYS_PER_MESSAGE]
            self._last_publish = time.monotonic()
            try:
                self._publish(batch)
            except Exception:  # the publish function handles broker errors; anything else is a bug
                logger.exception("publishing the dispatch of %d outbox batches failed", len(batch))
            finally:
                with self._lock:
                    self._busy = False
                    self._wake.notify_all()

    def drain_at_exit(self) -> None:
        """Publish what is left, in the calling thread (the daemon thread dies with the process)."""
        if self._pid != os.getpid():
            return
        self.flush(timeout=5.0)


_publisher: Publisher | None = None
_publisher_lock = threading.Lock()


def publisher(publish: Callable[[list[int]], None], min_interval: float = 0.0) -> Publisher:
    """This process's publisher (created on first use with these arguments)."""
    global _publisher
    with _publisher_lock:
        if _publisher is None:
            _publisher = Publisher(publish, min_interval)
            atexit.register(_publisher.drain_at_exit)
            os.register_at_fork(after_in_child=_publisher._start_fresh)
        return _publisher
