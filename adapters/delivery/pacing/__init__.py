"""When a target may be sent to: a circuit breaker with a half-open probe, and a shared rate limit.

Breaker: after ``FAILURES_TO_PAUSE`` consecutive failed attempts a target is paused for the probe
interval (``LRS_BREAKER_PROBE_SECONDS``, 10 s; a longer ``Retry-After`` from the target wins).
While it is paused nothing is sent, except one probe delivery each time the interval is over: the
pause lifts on the probe's success, and a failed probe pauses it one more interval. So a target
that comes back is seen within one interval, and a target that is down gets at most one request
per interval.

Rate limit: send times booked from a schedule shared by all workers (the second half of this
module, below).

Concurrency: ``Target.concurrency`` caps the requests in flight to the target across all workers:
at most ``drain_slots`` drains work a target at once, each with ``sends_per_drain`` sends
at most, fewer when the target's latency does not need them (``Lanes``, at the end).

Ingest first (``ingest_first``, the package's other module): the fan-out as a whole yields to a
burst of ingest when the CPU is contended.
"""

from __future__ import annotations

import logging
import math
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db.models import F
from django.utils import timezone

from adapters.models import Target

logger = logging.getLogger(__name__)

FAILURES_TO_PAUSE = 5
MAX_RETRY_AFTER_PAUSE_SECONDS = 3600

Gate = Literal["open", "probe", "closed"]


def probe_seconds() -> float:
    return float(settings.LRS_BREAKER_PROBE_SECONDS)


def gate(target: Target, now: datetime) -> Gate:
    """``open``: send freely; ``probe``: the pause is over, this caller may send ONE delivery
    (it won the probe: the pause was pushed forward atomically, so others keep waiting);
    ``closed``: paused, send nothing until ``resume_at``."""
    if target.paused_until is None:
        return "open"
    if target.paused_until > now:
        return "closed"
    won = Target.objects.filter(id=target.id, paused_until=target.paused_until).update(
        paused_until=now + timedelta(seconds=probe_seconds())
    )
    return "probe" if won else "closed"


def may_send(target: Target, now: datetime) -> bool:
    return gate(target, now) != "closed"


def resume_at(target: Target, now: datetime) -> datetime:
    """When a paused target may be tried again (the probe time)."""
    fresh = Target.objects.filter(id=target.id).values_list("paused_until", flat=True).first()
    return max(fresh or now, now)


def record_success(target: Target) -> bool:
    """A delivery reached the target: the breaker closes. True if it had been open."""
    if target.consecutive_failures or target.paused_until:
        closed = Target.objects.filter(id=target.id).update(consecutive_failures=0, paused_until=None)
        return bool(closed) and target.paused_until is not None
    return False


def record_failure(
    target: Target,
    *,
    disable: bool = False,
    reason: str = "",
    failures: int = 1,
    retry_after: float | None = None,
) -> None:
    """``failures`` attempts failed (and none succeeded): count them; pause the target once
    there are ``FAILURES_TO_PAUSE`` in a row (a failed probe pauses it again)."""
    if disable:
        Target.objects.filter(id=target.id).update(
            enabled=False, disabled_reason=f"disabled automatically: {reason}"
        )
        return
    Target.objects.filter(id=target.id).update(consecutive_failures=F("consecutive_failures") + failures)
    count = Target.objects.values_list("consecutive_failures", flat=True).get(id=target.id)
    if count >= FAILURES_TO_PAUSE:
        pause = max(probe_seconds(), min(retry_after or 0.0, MAX_RETRY_AFTER_PAUSE_SECONDS))
        Target.objects.filter(id=target.id).update(paused_until=timezone.now() + timedelta(seconds=pause))


def drain_slots(target: Target) -> int:
    """How many drains may work this target at once (``LRS_DRAIN_PARALLELISM``, fewer when its
    concurrency is smaller)."""
    return max(1, min(settings.LRS_DRAIN_PARALLELISM, target.concurrency))


def sends_per_drain(target: Target) -> int:
    """Requests one drain keeps in flight: the target's concurrency shared among its drains."""
    return max(1, target.concurrency // drain_slots(target))


# -- Rate limit ------------------------------------------------------------------------------
# A target's rate limit, across every worker: send times booked from one shared schedule, each
# send's slot when the send is ready (``per_send``).
#
# ``Target.rate_limit_per_second`` = L (a whole number; a fractional one is a mean rate) means no
# one-second span holds more than L request starts, whichever worker process sends them. Slots are
# 1/(0.97 L) apart (``RATE_HEADROOM``), and a send starts within ``LATE_TOLERANCE_SECONDS`` of its
# slot: one that wakes later (its thread waited for a core or the interpreter lock) gives the slot
# up and books the next free one, since a late start followed by an on-time one would come closer
# than the spacing. Every second then spans at most 0.97 L slots plus 15 ms of lateness: half of
# the 31 ms of headroom a second holds, the other half left for the request's own way out
# (preparing it, the socket). Lateness counts from the booking's answer: the booking's own round
# trip (well under a millisecond to Redis) is taken to be short. A thread late ``MAX_LATE_WAKEUPS``
# times running sends anyway, with a warning: only a host starved of CPU gets there.
# It is the generic cell rate algorithm (GCRA, the "virtual scheduling" form of ITU-T I.371; the
# algorithm behind redis-cell and many API gateways): the shared cache holds the target's *next
# free send time*; a booking takes the slot ``max(next free, now)`` and moves it 1/L later, in one
# atomic step; the send then waits for its slot (``Schedule.wait_for_turn``). Time is Redis's own
# clock, so worker clocks need not agree.
#
# With Redis as the cache (any deployment with a broker) the booking is a Lua script, atomic
# across processes and hosts. Without it (the quickstart's in-process drain, one process) a lock
# in this process does the same.
#
# A drain books at most about ``HORIZON_SECONDS`` ahead: when the schedule is fuller than that
# (other drains booked it), it claims nothing and asks for a drain when the slots free up, so a
# claim never waits long for its sends.

HORIZON_SECONDS = 1.0
LATE_TOLERANCE_SECONDS = 0.015
MAX_LATE_WAKEUPS = 10


@dataclass(frozen=True)
class Schedule:
    """When a target's sends may start. ``book_one`` books the next free slot on the shared clock
    and returns when it is on this process's ``time.monotonic()``."""

    book_one: Callable[[], float] | None = None

    def wait_for_turn(self) -> None:
        """Sleep until this send may start: its slot, booked now, or a later one for each time it
        woke too late for the last. The wait after the booking's answer is all that counts, so
        only a thread that cannot get the CPU within ``LATE_TOLERANCE_SECONDS`` of a slot tries
        again; after ``MAX_LATE_WAKEUPS`` in a row it sends anyway, and says so: a starved host
        must not stall the drain for good, and it holds a claimed batch meanwhile."""
        if self.book_one is None:
            return
        for _ in range(MAX_LATE_WAKEUPS):
            due = self.book_one()
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if time.monotonic() - due <= LATE_TOLERANCE_SECONDS:
                return
        logger.warning(
            "a send woke more than %.0f ms after its rate-limit slot %d times in a row; sending it "
            "now (this host is short of CPU: its rate limit may be exceeded)",
            LATE_TOLERANCE_SECONDS * 1000,
            MAX_LATE_WAKEUPS,
        )


UNPACED = Schedule()

# KEYS[1]: the target's next free send time (seconds, Redis clock). ARGV: spacing, count (0 only
# looks). Returns the first booked (or next free) slot and Redis's now, as strings with
# microseconds (Lua numbers become integers on the way out; tostring keeps only 14 digits).
_BOOK = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local spacing = tonumber(ARGV[1])
local count = tonumber(ARGV[2])
local start = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
if count > 0 then
  local after = start + count * spacing
  redis.call('SET', KEYS[1], string.format('%.6f', after), 'EX', math.ceil(after - now) + 60)
end
return {string.format('%.6f', start), string.format('%.6f', now)}
"""

_local_lock = threading.Lock()
_local_next_free: dict[int, float] = {}


def _key(target: Target) -> str:
    return f"lrs:rate-next:{target.id}"


def _redis():  # the redis-py client behind Django's RedisCache, or None
    backend = getattr(cache, "_cache", None)
    get_client = getattr(backend, "get_client", None)
    return get_client(write=True) if get_client is not None else None


# The schedule runs a little below the limit: a send that starts late (its thread was busy)
# followed by one on time arrives closer than the spacing, and the target counts arrivals. At 300/s
# the bench saw 304 arrivals in one second at full spacing; 3 % of headroom absorbs that jitter.
RATE_HEADROOM = 0.97


def spacing(target: Target) -> float:
    limit = target.rate_limit_per_second
    return 1.0 / (limit * RATE_HEADROOM) if limit and limit > 0 else 0.0


def _book(target: Target, count: int) -> tuple[float, float]:
    """(the first booked or next free slot, now), both on the shared clock."""
    gap = spacing(target)
    client = _redis()
    if client is not None:
        start, now = client.eval(_BOOK, 1, _key(target), repr(gap), count)
        return float(start), float(now)
    with _local_lock:
        now = time.time()
        start = max(_local_next_free.get(target.id, 0.0), now)
        if count > 0:
            _local_next_free[target.id] = start + count * gap
        return start, now


def batch_size(target: Target, wanted: int) -> int:
    """How many deliveries a drain should claim: about one horizon's worth of sends."""
    gap = spacing(target)
    if not gap:
        return wanted
    return max(1, min(wanted, math.floor(HORIZON_SECONDS / gap + 0.5)))


def booked_ahead(target: Target) -> float:
    """Seconds until the target's next free send slot (0 without a rate limit)."""
    if not spacing(target):
        return 0.0
    start, now = _book(target, 0)
    return max(0.0, start - now)


def per_send(target: Target) -> Schedule:
    """A schedule that books each send's slot when the send is ready (after the concurrency gate),
    not the batch's slots up front. A drain whose share of the target's concurrency carries fewer
    sends a second than the limit (a slow target) would otherwise fall behind its booked slots
    while the next drain sent in its own, and the two together exceeded the limit (the bench:
    303 arrivals in a second at 300/s); booked when ready, no slot is missed, and one is wasted
    only by a send that wakes too late for it. One booking (a Redis script call) per send, and
    one more for each late wake-up, for rate-limited targets only."""
    gap = spacing(target)
    if not gap:
        return UNPACED

    def book_one() -> float:
        # From the answer: never before the slot. The booking's own round trip is not counted as
        # lateness: were it, one of 15 ms or more would never pass.
        start, now = _book(target, 1)
        return time.monotonic() + max(0.0, start - now)

    return Schedule(book_one=book_one)


# -- In-flight allowance -------------------------------------------------------------------
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
