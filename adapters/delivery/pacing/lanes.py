"""How many of a drain's sends are in flight at once (``Lanes``): as many as the target's latency
needs, never more than the drain's share of its concurrency cap (``pacing.sends_per_drain``)."""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import TypeVar

# How many of a drain's sends are in flight at once: as many as the target's latency needs, never
# more than the drain's share of its concurrency cap.
#
# Sends are I/O on threads that share one interpreter lock. While a send waits on a slow target it
# holds nothing, so a 200 ms target needs dozens in flight; but a target that answers in a
# millisecond keeps every in-flight send runnable, and they then fight over the lock: on this kind
# of machine a send to a local instant receiver cost 0.56 ms of CPU in a loop, 0.72 ms over two
# threads and 1.0 ms over 32 (``bench/`` drain, same requests). So the allowance follows Little's
# law: a send's round trip over the CPU it takes (measured per send with ``time.thread_time``) is
# how many sends keep one core busy; one more absorbs jitter. The round trip is the shortest of
# the last ``WINDOW`` sends, which leaves out the time a send spent waiting for the lock (otherwise
# contention would raise the allowance that causes it). A drain starts where the last one of this
# process ended for the target (the cap at first) and adapts after ``SAMPLES_BEFORE_ADAPTING``
# sends; a target that slows down in the middle of a batch is seen within ``WINDOW`` sends.

T = TypeVar("T")

WINDOW = 16  # sends the estimate looks back on
MIN_LANES = 2  # the floor: one send's reply overlaps the next one's request
SAMPLES_BEFORE_ADAPTING = 4

_last_allowance: dict[int, int] = {}  # target id -> the allowance its last drain in this process ended with


class Lanes:
    """Runs a batch's sends on lanes: pool threads that each take the next send and run it, then
    the next, as long as there is one and the allowance has room for them. One thread handing
    each send to the pool and waiting on its future cost about 15 % more CPU per send than lanes
    taking their own work (``bench/``: 0.90 against 0.76 ms to the instant receiver), and the
    preparing thread no longer competes with the sends for the lock."""

    def __init__(self, target_id: int, cap: int) -> None:
        self.target_id = target_id
        self.cap = max(1, cap)
        self.allowed = min(self.cap, _last_allowance.get(target_id, self.cap))
        self.running = 0  # lanes started and not yet retired
        self.in_flight = 0
        self.most_in_flight = 0
        self._count = 0
        self._next = 0  # the next send to take
        self._round_trips: deque[float] = deque(maxlen=WINDOW)
        self._cpu: deque[float] = deque(maxlen=WINDOW)
        self._changed = threading.Condition()

    def run(
        self,
        count: int,
        send: Callable[[int], object],
        pool: Executor,
        after_lane: Callable[[], object] | None = None,
    ) -> None:
        """Call ``send(0)`` ... ``send(count - 1)`` on ``pool``'s threads, each send taken in
        order, at most ``allowed`` at once (which may change as they go); return when all are
        done. ``send`` handles its own errors; anything it raises stops the lanes (each finishes
        the send it has) and is raised here. ``after_lane`` runs on each lane's thread as it ends."""
        with self._changed:
            self._count, self._next = count, 0
        lanes: list[Future[None]] = []
        while True:
            with self._changed:
                while not self._finished() and not self._room():
                    self._changed.wait()
                if self._finished():
                    break
                starting = min(self.allowed - self.running, self._untaken() - self.running)
                self.running += starting
            lanes.extend(pool.submit(self._lane, send, after_lane) for _ in range(starting))
        for lane in lanes:
            lane.result()

    def timed(self, send: Callable[[], T]) -> T:
        """Run one send (on a lane) and learn from its round trip and the CPU it took."""
        started, cpu_started = time.monotonic(), time.thread_time()
        try:
            return send()
        finally:
            self._learn(time.monotonic() - started, time.thread_time() - cpu_started)

    def _untaken(self) -> int:
        return self._count - self._next

    def _room(self) -> bool:
        """A lane more would have work no running lane is about to take, and the allowance has room."""
        return self.running < self.allowed and self._untaken() > self.running

    def _finished(self) -> bool:
        return self.running == 0 and (self._untaken() == 0 or self._stopped)

    _stopped = False  # a lane raised: the others finish their send and stop

    def _lane(self, send: Callable[[int], object], after_lane: Callable[[], object] | None) -> None:
        try:
            while True:
                with self._changed:
                    if self._stopped or self._untaken() == 0 or self.running > self.allowed:
                        return  # done, or retired: the allowance went down
                    index = self._next
                    self._next += 1
                    self.in_flight += 1
                    self.most_in_flight = max(self.most_in_flight, self.in_flight)
                try:
                    send(index)
                except BaseException:
                    self._stopped = True
                    raise
                finally:
                    with self._changed:
                        self.in_flight -= 1
        finally:
            if after_lane is not None:
                after_lane()
            with self._changed:
                self.running -= 1
                self._changed.notify_all()

    def _learn(self, round_trip: float, cpu: float) -> None:
        with self._changed:
            self._round_trips.append(round_trip)
            self._cpu.append(cpu)
            if len(self._round_trips) >= SAMPLES_BEFORE_ADAPTING:
                self.allowed = self._allowance()
                _last_allowance[self.target_id] = self.allowed
            self._changed.notify_all()

    def _allowance(self) -> int:
        cpu = max(statistics.median(self._cpu), 1e-5)
        needed = math.ceil(min(self._round_trips) / cpu) + 1
        return max(min(MIN_LANES, self.cap), min(self.cap, needed))
