"""The fan-out bench's view of the outbox: targets, delivery counts, the broker queue, resets.

Runs in the bench process with Django set up (``bench.django_env.setup_django``) against the
bench database; gunicorn and the worker see the same rows.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import redis

from bench.statements import VERBS, VOIDED_VERB, verb_id

SECRET_ENV = "BENCH_WEBHOOK_SECRET"
TARGET_PREFIX = "bench-hook-"
QUEUE = "celery"
# Every verb the bench's statements use: each target takes every test statement.
TAKE_ALL_FILTER: dict[str, Any] = {"verbs": [verb_id(name) for name, _ in VERBS] + [VOIDED_VERB]}


def target_name(index: int) -> str:
    return f"{TARGET_PREFIX}{index}"


def delivery_key(statement_id: str, index: int = 0) -> str:
    """The Idempotency-Key the engine gives the delivery of a statement to target ``index``."""
    from adapters.delivery.outbox import idempotency_key

    return idempotency_key(statement_id, target_name(index), "deliver")


def targets_configure(urls: list[str]) -> list[str]:
    """Replace every target by one enabled webhook target per URL (none: fan-out off)."""
    from adapters.models import Target

    Target.objects.all().delete()
    names = []
    for index, url in enumerate(urls):
        target = Target(
            name=target_name(index),
            adapter="webhook",
            filter=TAKE_ALL_FILTER,
            config={"url": url, "secret": {"env": SECRET_ENV}},
        )
        target.full_clean()
        target.save()
        names.append(target.name)
    return names


def targets_cache_seconds() -> int:
    """How long gunicorn's processes may keep an old target list (production default 5 s)."""
    return int(os.environ.get("LRS_TARGETS_CACHE_SECONDS") or 5)


def dispatch_settle_seconds() -> float:
    """How long after its last request a web process may still publish a dispatch message: its
    publisher's longest interval (``LRS_DISPATCH_MAX_INTERVAL_MS``, as gunicorn reads it), and a
    margin. A check of the broker, or a reset of it, waits this long, or a late message lands in
    the next configuration's queue."""
    from django.conf import settings

    return settings.LRS_DISPATCH_MAX_INTERVAL_MS / 1000 + 0.5


def broker(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=10)


def queue_length(redis_url: str) -> int:
    with broker(redis_url) as client:
        return int(client.llen(QUEUE))


def outbox_reset(redis_url: str) -> None:
    """Empty the outbox tables and the broker (between measurements, with no worker running)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE adapters_attempt, adapters_delivery, adapters_outboxbatch")
    with broker(redis_url) as client:
        client.flushdb()


def statement_count() -> int:
    from lrs.statements.models import Statement

    return Statement.objects.count()


def delivery_counts() -> dict[str, int]:
    """Deliveries per status, plus ``total`` and ``dispatched`` (queued to the broker)."""
    from django.db.models import Count

    from adapters.models import Delivery

    counts = {row["status"]: row["n"] for row in Delivery.objects.values("status").annotate(n=Count("id"))}
    counts["total"] = sum(counts.values())
    counts["dispatched"] = Delivery.objects.filter(dispatched_at__isnull=False).count()
    return counts


def outbox_counts() -> dict[str, int]:
    """The outbox batches ingest wrote (``batches``, ``dispatched`` to the broker) and the
    deliveries they stand for (``deliveries``: statements times targets, summed over batches)."""
    from adapters.models import OutboxBatch

    rows = list(OutboxBatch.objects.values_list("statement_pks", "target_ids", "dispatched_at"))
    return {
        "batches": len(rows),
        "dispatched": sum(1 for *_, dispatched in rows if dispatched is not None),
        "deliveries": sum(len(pks) * len(target_ids) for pks, target_ids, _ in rows),
    }


def finished(counts: dict[str, int]) -> int:
    return sum(counts.get(status, 0) for status in ("delivered", "dead", "cancelled"))


def delivery_span() -> dict[str, Any]:
    """First attempt start to last delivery, and the attempts' own durations (send + answer)."""
    from django.db.models import Avg, Max, Min

    from adapters.models import Attempt, Delivery

    first = Attempt.objects.aggregate(first=Min("started_at"), avg_ms=Avg("duration_ms"))
    last = Delivery.objects.aggregate(last=Max("delivered_at"))
    span = (last["last"] - first["first"]).total_seconds() if first["first"] and last["last"] else 0.0
    return {
        "first_attempt_to_last_delivered_s": round(span, 3),
        "attempt_duration_avg_ms": round(float(first["avg_ms"] or 0.0), 2),
        "attempts": Attempt.objects.count(),
    }


def pg_sessions() -> int:
    """Sessions (connections) PostgreSQL has established to the bench database so far."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def connect_cost(url: str, count: int = 20) -> float:
    """Median milliseconds to open a PostgreSQL connection and run one query (what a new
    connection per task costs)."""
    import statistics
    import time

    import psycopg

    samples = []
    for _ in range(count):
        begun = time.perf_counter()
        with psycopg.connect(url) as conn:
            conn.execute("SELECT 1")
        samples.append(time.perf_counter() - begun)
    return round(statistics.median(samples) * 1000, 2)


def delivery_timeline(keys: list[str]) -> dict[str, dict[str, datetime | None]]:
    """Per Idempotency-Key: the statement's stored time and the delivery's milestones."""
    from django.db.models import Min

    from adapters.models import Delivery

    rows = (
        Delivery.objects.filter(idempotency_key__in=keys)
        .annotate(first_attempt=Min("attempt_log__started_at"))
        .values(
            "idempotency_key",
            "statement__stored",
            "created_at",
            "dispatched_at",
            "first_attempt",
            "delivered_at",
        )
    )
    return {
        row["idempotency_key"]: {
            "stored": row["statement__stored"],
            "created": row["created_at"],
            "dispatched": row["dispatched_at"],
            "attempt": row["first_attempt"],
            "delivered": row["delivered_at"],
        }
        for row in rows
    }
