"""Ingest first: while the LMS is sending statements and the CPU is contended, the fan-out
(expanding stored batches into deliveries, draining them) works only
``LRS_FANOUT_SHARE_UNDER_INGEST`` of the time (0.2 by default), so a burst is stored at nearly
the rate it would have with no fan-out, and its effects follow once the burst is over.

Why: the statements are the record. The effects are derived from it, and they are durable in the
outbox and the delivery table, so they can wait. On a host that the web processes, the worker
and PostgreSQL share, a drain running flat out cost a third of batch ingest
(bench/README.md, "ingest with the drain"). The worker's own CPU already yields (SCHED_IDLE,
``config/celery.py``), but the work it asks of PostgreSQL runs at full priority.

How: PostgreSQL's cost-based vacuum delay is the model
(https://www.postgresql.org/docs/current/runtime-config-resource.html#RUNTIME-CONFIG-RESOURCE-VACUUM-COST).
After a unit of work (one expansion transaction, one drain batch) that took ``t`` seconds, the
process sleeps ``t * (1 - share) / share``. So the work it asks of PostgreSQL shrinks in the same
proportion. Wall time, not this process's CPU time: under contention a SCHED_IDLE worker gets
little CPU, while the database work it waits for is the cost that matters. A drain batch's time
leaves out its sends (``batch.Timing``): waiting on the target costs this host nothing, so a slow
target is not slowed further.

When: all three conditions hold.

- Ingest is active. A web process published a dispatch message (batches stored for the fan-out)
  within the last ``active_seconds()`` (2 s, or two of its longest dispatch intervals,
  ``LRS_DISPATCH_MAX_INTERVAL_MS``, if longer). ``mark_ingest`` records this on the web process's
  publisher thread, before a message: two cache round trips, at most once per quarter of the
  mark's life per process (half a second by default). The mark holds when the burst began, so every
  worker process agrees on it; a burst ends when no web process has published for that long.
- The CPU is contended. Over the time since this process last looked (half a second at least),
  some runnable task waited for a CPU at least ``LRS_FANOUT_YIELD_CPU_PRESSURE`` percent of the
  time. This uses Linux pressure stall information, https://docs.kernel.org/accounting/psi.html
  (``/proc/pressure/cpu``: the whole host or VM, also inside a container, which is what the web
  processes and PostgreSQL contend for). Where the kernel offers none, the CPU is taken as
  contended. A host with cores to spare does not slow its fan-out.
- The burst is young: it began less than ``LRS_FANOUT_YIELD_MAX_SECONDS`` ago (60 by default).
  Load that never stops then shares the CPU as it did before, so the backlog cannot grow without
  bound.

Meant for a host (or VM) that runs the web processes, or PostgreSQL, beside the workers, as the
Compose file does. Workers on hosts of their own gain nothing from it: set the share to 1 there.
Only a worker's own loops yield (the ``dispatch_batch`` task, drains): never a request, the
admin's actions or the sweep.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.cache import cache

from adapters.ops import instruments

logger = logging.getLogger(__name__)

INGEST_KEY = "lrs:ingest-active"  # value: when the burst began (Unix time)
ACTIVE_SECONDS = 2  # a burst ends when no web process has published a dispatch for this long
CHECK_SECONDS = 0.25  # how long a worker process trusts its last look at the mark
PRESSURE_FILE = Path("/proc/pressure/cpu")
SAMPLE_SECONDS = 0.5  # the shortest window CPU pressure is measured over
MAX_PAUSE_SECONDS = 5.0  # one pause at most (a long unit of work must not park its process)


def active_seconds() -> int:
    """How long a mark lasts: longer than the gap between two dispatch messages of a busy web
    process (``LRS_DISPATCH_MAX_INTERVAL_MS``, the interval under load)."""
    longest_ms = max(settings.LRS_DISPATCH_MIN_INTERVAL_MS, settings.LRS_DISPATCH_MAX_INTERVAL_MS)
    return max(ACTIVE_SECONDS, math.ceil(2 * longest_ms / 1000))


_marked_at: float | None = None  # when this process last wrote the mark


def mark_ingest(now: float | None = None) -> None:
    """A web process is handing stored statements to the fan-out: keep the mark (and the time its
    burst began) alive. Advisory: if the cache is down, the fan-out simply does not yield.

    At most once per quarter of the mark's life per process, which keeps it alive through a
    burst: two cache round trips cost a busy web process about 1.5 ms of CPU (redis-py, and the
    GIL its request threads hold), as much as the dispatch message they come with."""
    global _marked_at
    now = time.time() if now is None else now
    if _marked_at is not None and 0 <= now - _marked_at < active_seconds() / 4:
        return
    _marked_at = now
    try:
        began = cache.get(INGEST_KEY)
        if not isinstance(began, int | float) or began > now:
            began = now
        cache.set(INGEST_KEY, began, timeout=active_seconds())
    except Exception as exc:  # any cache failure: the dispatch itself must go on
        logger.debug("could not mark ingest as active: %s: %s", type(exc).__name__, exc)


def pause_seconds(work_seconds: float, share: float) -> float:
    """The sleep that keeps work which took ``work_seconds`` to ``share`` of the time."""
    if share >= 1 or work_seconds <= 0:
        return 0.0
    return min(MAX_PAUSE_SECONDS, work_seconds * (1 - share) / share)


def parse_pressure(text: str) -> tuple[float, int] | None:
    """``(avg10 percent, total stalled microseconds)`` of the ``some`` line of
    ``/proc/pressure/cpu``, e.g. ``some avg10=0.44 avg60=26.59 avg300=39.06 total=346040117``."""
    for line in text.splitlines():
        if line.startswith("some "):
            fields = dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)
            try:
                return float(fields["avg10"]), int(fields["total"])
            except (KeyError, ValueError):
                return None
    return None


@dataclass
class _State:
    mark_checked_at: float = float("-inf")
    burst_began: float | None = None  # None: no ingest
    pressure_at: float | None = None
    pressure_total: int | None = None
    pressure: float | None = None


_state = _State()
_lock = threading.Lock()


def _read_pressure() -> tuple[float, int] | None:
    try:
        return parse_pressure(PRESSURE_FILE.read_text())
    except OSError:  # no PSI in this kernel, or not exposed in this container
        return None


def cpu_pressure(now: float) -> float | None:
    """Percent of the recent past in which some runnable task waited for a CPU; None where the
    kernel does not say. Measured over the time since this process's last reading (at least
    ``SAMPLE_SECONDS``). After a quiet spell that window is long and the figure low, so only the
    first unit of work of a burst goes unpaused; the next reading covers the burst alone. The
    kernel's own 10 s average stands in for a process's very first reading."""
    if _state.pressure_at is not None and now - _state.pressure_at < SAMPLE_SECONDS:
        return _state.pressure
    reading = _read_pressure()
    if reading is None:
        _state.pressure_at, _state.pressure_total, _state.pressure = now, None, None
        return None
    avg10, total = reading
    previous_at, previous_total = _state.pressure_at, _state.pressure_total
    if previous_at is not None and previous_total is not None and now > previous_at:
        # microseconds stalled per second elapsed, in percent
        _state.pressure = (total - previous_total) / 1e4 / (now - previous_at)
    else:
        _state.pressure = avg10
    _state.pressure_at, _state.pressure_total = now, total
    return _state.pressure


def _burst_began(now: float) -> float | None:
    """When the current burst of ingest began; None when there is none."""
    if now - _state.mark_checked_at >= CHECK_SECONDS:
        _state.mark_checked_at = now
        try:
            began = cache.get(INGEST_KEY)
        except Exception:  # the cache is down: nothing says ingest is busy
            began = None
        _state.burst_began = float(began) if isinstance(began, int | float) else None
    return _state.burst_began


def pause_after(work_seconds: float, now: float | None = None) -> float:
    """How long this process should sleep after work that took ``work_seconds``."""
    share = settings.LRS_FANOUT_SHARE_UNDER_INGEST
    if share >= 1 or work_seconds <= 0:
        return 0.0
    now = time.time() if now is None else now
    with _lock:
        began = _burst_began(now)
        if began is None:
            return 0.0
        if now - began >= settings.LRS_FANOUT_YIELD_MAX_SECONDS:
            return 0.0  # a long burst: share the CPU as before, so the backlog stays bounded
        pressure = cpu_pressure(now)
        if pressure is not None and pressure < settings.LRS_FANOUT_YIELD_CPU_PRESSURE:
            return 0.0
    return pause_seconds(work_seconds, share)


def yield_after(work_seconds: float, work: str) -> float:
    """Sleep as ``pause_after`` says, counted in ``lrs_fanout_yield_seconds_total{work}``;
    returns the seconds slept."""
    pause = pause_after(work_seconds)
    if pause > 0:
        instruments.count_yield(work, pause)
        time.sleep(pause)
    return pause


def forget() -> None:
    """Start afresh (tests; a forked worker process must not go by its parent's readings)."""
    global _state, _lock, _marked_at
    _state, _lock, _marked_at = _State(), threading.Lock(), None


os.register_at_fork(after_in_child=forget)
