"""A target's rate limit, across every worker: send times booked from one shared schedule.

``Target.rate_limit_per_second`` = L means no two requests to the target start less than 1/L
seconds apart, whichever worker process sends them, so no one-second span holds more than L.
It is the generic cell rate algorithm (GCRA, the "virtual scheduling" form of ITU-T I.371; the
algorithm behind redis-cell and many API gateways): the shared cache holds the target's *next
free send time*; a drain that claimed n deliveries books n consecutive slots from
``max(next free, now)`` and moves it n/L later, in one atomic step; each send then waits for its
slot (``Schedule.wait_for_turn``). Time is Redis's own clock, so worker clocks need not agree.

With Redis as the cache (any deployment with a broker) the booking is a Lua script, atomic
across processes and hosts. Without it (the quickstart's in-process drain, one process) a lock
in this process does the same.

A drain books at most about ``HORIZON_SECONDS`` ahead: when the schedule is fuller than that
(other drains booked it), it claims nothing and asks for a drain when the slots free up, so a
claim never waits long for its sends.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from django.core.cache import cache

from adapters.models import Target

HORIZON_SECONDS = 1.0


@dataclass(frozen=True)
class Schedule:
    """When a batch's sends may start: the first at ``first_at`` (``time.monotonic()``), then one
    every ``spacing`` seconds."""

    first_at: float = 0.0
    spacing: float = 0.0

    def wait_for_turn(self, index: int) -> None:
        """Sleep until send number ``index`` (from 0) of the batch may start."""
        delay = self.first_at + index * self.spacing - time.monotonic()
        if delay > 0:
            time.sleep(delay)


UNPACED = Schedule()

# KEYS[1]: the target's next free send time (seconds, Redis clock). ARGV: spacing, count (0 only
# looks). Returns how long from now until the first booked (or next free) slot, as a string
# (Lua numbers become integers on the way out).
_BOOK = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local spacing = tonumber(ARGV[1])
local count = tonumber(ARGV[2])
local start = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
if count > 0 then
  local after = start + count * spacing
  redis.call('SET', KEYS[1], tostring(after), 'EX', math.ceil(after - now) + 60)
end
return tostring(start - now)
"""

_local_lock = threading.Lock()
_local_next_free: dict[int, float] = {}


def _key(target: Target) -> str:
    return f"lrs:rate-next:{target.id}"


def _redis():  # the redis-py client behind Django's RedisCache, or None
    backend = getattr(cache, "_cache", None)
    get_client = getattr(backend, "get_client", None)
    return get_client(write=True) if get_client is not None else None


def spacing(target: Target) -> float:
    limit = target.rate_limit_per_second
    return 1.0 / limit if limit and limit > 0 else 0.0


def _book(target: Target, count: int) -> float:
    gap = spacing(target)
    client = _redis()
    if client is not None:
        return max(0.0, float(client.eval(_BOOK, 1, _key(target), repr(gap), count)))
    with _local_lock:
        now = time.time()
        start = max(_local_next_free.get(target.id, 0.0), now)
        if count > 0:
            _local_next_free[target.id] = start + count * gap
        return start - now


def batch_size(target: Target, wanted: int) -> int:
    """How many deliveries a drain should claim: about one horizon's worth of sends."""
    gap = spacing(target)
    if not gap:
        return wanted
    return max(1, min(wanted, math.floor(HORIZON_SECONDS / gap)))


def booked_ahead(target: Target) -> float:
    """Seconds until the target's next free send slot (0 without a rate limit)."""
    return _book(target, 0) if spacing(target) else 0.0


def book(target: Target, count: int) -> Schedule:
    """Book ``count`` consecutive send slots; the schedule the batch's sends must keep."""
    gap = spacing(target)
    if not gap or count <= 0:
        return UNPACED
    return Schedule(first_at=time.monotonic() + _book(target, count), spacing=gap)
