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
at most, fewer when the target's latency does not need them (``Lanes``, the ``lanes`` module).

Ingest first (``ingest_first``): the fan-out as a whole yields to a burst of ingest when the CPU
is contended. Claims (``claims``): a batch sends only while its claim, a lease, can cover it.
Look-ups ahead (``ahead``): preparing's look-ups at the target, paced as sends are.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

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


def batch_size(target: Target, wanted: int, per_request: int = 1) -> int:
    """How many deliveries a drain should claim: about one horizon's worth of sends, each
    carrying up to ``per_request`` deliveries (a target taking arrays)."""
    gap = spacing(target)
    if not gap:
        return wanted
    return max(1, min(wanted, max(1, math.floor(HORIZON_SECONDS / gap + 0.5)) * per_request))


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
