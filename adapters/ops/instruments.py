"""The fan-out's own Prometheus instruments (prometheus-client): counted where things happen, in
the process they happen in, and exposed by ``adapters.ops.metrics``.

Counters and histograms are cumulative, as Prometheus expects (a rate or a quantile over any
window is then the query's business, not a scrape's): deliveries written at expansion, attempts
and delivery results by target and outcome, the lag from a statement's ``stored`` to its
delivery by target, statements stored. Under gunicorn or Celery prefork every process counts in
its own file of ``PROMETHEUS_MULTIPROC_DIR`` and the exposition adds them up (prometheus-client's
multi-process mode: https://prometheus.github.io/client_python/multiprocess/); with one process
(the quickstart, tests) they live in the process's default registry.

Labels are target names (a handful) and fixed words: never an id, a statement or a person.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable
from typing import Any

from django.dispatch import receiver
from prometheus_client import Counter, Histogram

from lrs.statements.signals import statements_stored

# Seconds: from "at once" to "an hour late" (the lag alert fires at ten minutes).
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

STATEMENTS_STORED = Counter(
    "lrs_statements_stored", "Statements stored (repeats of stored ones not counted)."
)
DELIVERIES_CREATED = Counter(
    "lrs_deliveries_created", "Delivery rows written for stored statements, by target.", ["target"]
)
DELIVERY_RESULTS = Counter(
    "lrs_delivery_results",
    "Deliveries a worker ran, by target, kind and the state the run left them in "
    "(delivered, retrying, dead, held, cancelled, unknown).",
    ["target", "kind", "status"],
)
ATTEMPTS = Counter("lrs_delivery_attempts", "Delivery attempts by target and outcome.", ["target", "outcome"])
LAG = Histogram(
    "lrs_delivery_lag_seconds",
    "Seconds from a statement's stored time to its delivery (deliveries, not retractions), by target.",
    ["target"],
    buckets=LAG_BUCKETS,
)
OUTCOMES_DROPPED = Counter(
    "lrs_delivery_outcomes_dropped",
    "Outcomes a worker dropped unwritten, by target: its claim had run out and the sweep had put "
    "the deliveries back (a stalled worker; adapters/delivery/pacing/claims.py).",
    ["target"],
)
FANOUT_YIELD = Counter(
    "lrs_fanout_yield_seconds",
    "Seconds the fan-out slept to leave the CPU to ingest, by work (expansion, drain): "
    "adapters/delivery/pacing/ingest_first.py.",
    ["work"],
)


@receiver(statements_stored, dispatch_uid="adapters.ops.count_statements_stored")
def on_statements_stored(sender: Any, statement_pks: list[int], **kwargs: Any) -> None:
    STATEMENTS_STORED.inc(len(statement_pks))


def count_created(target_names: Iterable[str]) -> None:
    """One name per delivery row written."""
    for name, count in Tally(target_names).items():
        DELIVERIES_CREATED.labels(name).inc(count)


def count_results(
    target_name: str,
    results: Iterable[tuple[str, str, str | None, float | None]],
) -> None:
    """Deliveries run by a worker, each (kind, new state, the attempt it made or None when none
    was made, e.g. released under a rate limit, and once delivered its lag). Counted per label
    set, once for a batch: each increment of a multi-process counter writes its file."""
    states: Tally[tuple[str, str]] = Tally()
    attempts: Tally[str] = Tally()
    lag = None  # the target's series, made when it first has a lag (as before: no empty series)
    for kind, status, attempt_outcome, lag_seconds in results:
        states[kind, status] += 1
        if attempt_outcome is not None:
            attempts[attempt_outcome] += 1
        if lag_seconds is not None:
            lag = lag or LAG.labels(target_name)
            lag.observe(max(0.0, lag_seconds))
    for (kind, status), count in states.items():
        DELIVERY_RESULTS.labels(target_name, kind, status).inc(count)
    for attempt_outcome, count in attempts.items():
        ATTEMPTS.labels(target_name, attempt_outcome).inc(count)


def count_yield(work: str, seconds: float) -> None:
    FANOUT_YIELD.labels(work).inc(seconds)


def count_dropped(target_name: str, count: int) -> None:
    OUTCOMES_DROPPED.labels(target_name).inc(count)
