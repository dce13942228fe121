"""In-process probes of what fan-out adds to a request and what one delivery costs.

Run in the bench process (Django set up, ``CELERY_BROKER_URL`` pointing at the bench's
private Redis, so tasks are published, not run eagerly), with no worker running, one
request at a time (no concurrency, so the figures are costs, not queueing):

* per POST (single, batch of 100), fan-out off and with 4 targets: time, SQL statements
  (and which of them are the fan-out's), broker messages, and how much of the time goes to
  ``outbox.outbox_rows_at_ingest`` (building the outbox rows in the storing transaction) and
  to publishing (Celery's ``send_task``, after the commit, on the publisher thread: not part of
  the request's time; the probe waits for it between requests);
* one ``deliver.apply_async`` against one raw Redis LPUSH of the same size;
* the SQL statements and time of one ``delivery_send`` (what a worker pays per delivery).
"""

from __future__ import annotations

import base64
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.fanout_db import broker, connect_cost, outbox_reset, queue_length, targets_configure
from bench.statements import StatementFactory, Universe

RE_READ = 'FROM "lrs_statement" WHERE "lrs_statement"."id" IN'  # a read-back of stored statements


class _Timer:
    """Wraps a module function and adds up the seconds spent in it."""

    def __init__(self, module: Any, name: str):
        self.module, self.name, self.seconds, self.calls = module, name, 0.0, 0
        self.original = getattr(module, name)

    def __enter__(self) -> _Timer:
        def timed(*args: Any, **kwargs: Any) -> Any:
            begun = time.perf_counter()
            try:
                return self.original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - begun
                self.calls += 1

        setattr(self.module, self.name, timed)
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(self.module, self.name, self.original)


def _poster(key: str, secret: str) -> Callable[[Any], tuple[float, list[str]]]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    auth = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()

    def post(body: Any) -> tuple[float, list[str]]:
        begun = time.perf_counter()
        with CaptureQueriesContext(connection) as captured:
            response = client.post(
                "/xapi/statements",
                json.dumps(body),
                content_type="application/json",
                HTTP_AUTHORIZATION=auth,
                HTTP_X_EXPERIENCE_API_VERSION="1.0.3",
            )
        seconds = time.perf_counter() - begun
        if response.status_code != 200:
            raise RuntimeError(f"POST answered {response.status_code}: {response.content[:300]!r}")
        return seconds, [" ".join(item["sql"].split())[:150] for item in captured.captured_queries]

    return post


def _fanout_sql(sql: list[str]) -> list[str]:
    return [text for text in sql if "adapters_" in text or RE_READ in text]


def post_costs(
    key: str, secret: str, redis_url: str, targets: int, seed: int, repeat: int = 5
) -> dict[str, Any]:
    """Mean time of ``repeat`` single and batch-100 POSTs (after one warm-up each), SQL, tasks."""
    from adapters.delivery import outbox
    from config.celery import app

    post = _poster(key, secret)
    factory = StatementFactory(Universe.build(), seed=seed, voiding_share=0.0)
    figures: dict[str, Any] = {"targets": targets}
    for kind, make in (("single", factory.statement), ("batch_100", lambda: factory.batch(100))):
        post(make())
        outbox.flush_publisher()
        before = queue_length(redis_url)
        total = 0.0
        with _Timer(outbox, "outbox_rows_at_ingest") as create, _Timer(app, "send_task") as send:
            for _ in range(repeat):
                seconds, sql = post(make())
                total += seconds
                outbox.flush_publisher()
        figures[kind] = {
            "ms": round(total / repeat * 1000, 2),
            "outbox_rows_ms": round(create.seconds / repeat * 1000, 2),
            "publish_ms": round(send.seconds / repeat * 1000, 2),
            "broker_messages": send.calls // repeat,
            "tasks_published": (queue_length(redis_url) - before) // repeat,
            "sql": len(sql),
            "fanout_sql": _fanout_sql(sql),
        }
    return figures


def publish_cost(redis_url: str, count: int = 500) -> dict[str, Any]:
    """Microseconds per ``deliver.apply_async`` (ids no delivery has) and per raw LPUSH."""
    from adapters.delivery.tasks import deliver

    publish, lpush = [], []
    with broker(redis_url) as client:
        for index in range(count):
            begun = time.perf_counter()
            deliver.apply_async(args=(-1 - index,), retry=False)
            publish.append(time.perf_counter() - begun)
        size = len(client.lindex("celery", 0) or b"")
        for _ in range(count):
            begun = time.perf_counter()
            client.lpush("bench-raw", b"x" * size)
            lpush.append(time.perf_counter() - begun)
    outbox_reset(redis_url)
    return {
        "publishes": count,
        "message_bytes": size,
        "apply_async_median_us": round(statistics.median(publish) * 1e6, 1),
        "apply_async_p95_us": round(sorted(publish)[int(0.95 * (count - 1))] * 1e6, 1),
        "raw_lpush_median_us": round(statistics.median(lpush) * 1e6, 1),
    }


def delivery_cost(count: int = 20) -> dict[str, Any]:
    """Run pending deliveries in-process (the target must be up): SQL of one, mean time."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from adapters.delivery.drain import delivery_send
    from adapters.delivery.outbox import outbox_expand
    from adapters.models import Delivery, OutboxBatch

    outbox_expand(list(OutboxBatch.objects.values_list("id", flat=True)))  # what a worker does first
    ids = list(Delivery.objects.filter(status=Delivery.PENDING).order_by("id").values_list("id", flat=True))
    if len(ids) < 2:
        return {"error": "no pending deliveries to probe"}
    delivery_send(ids[0])  # warm: the first send opens the HTTP session
    with CaptureQueriesContext(connection) as captured:
        status = delivery_send(ids[1])
    sql = [" ".join(item["sql"].split())[:140] for item in captured.captured_queries]
    begun = time.perf_counter()
    timed = ids[2 : 2 + count]
    for delivery_id in timed:
        delivery_send(delivery_id)
    mean = (time.perf_counter() - begun) / len(timed) if timed else 0.0
    return {
        "status": status,
        "queries": len(sql),
        "sql": sql,
        "mean_ms": round(mean * 1000, 2),
        "timed": len(timed),
    }


def run_probes(
    url: str, key: str, secret: str, redis_url: str, hook_url: str, log: Callable[[str], None]
) -> dict[str, Any]:
    """All probes; leaves no targets, no deliveries and an empty broker behind."""
    targets_configure([])
    outbox_reset(redis_url)
    off = post_costs(key, secret, redis_url, 0, seed=910001)
    targets_configure([hook_url] * 4)
    on = post_costs(key, secret, redis_url, 4, seed=910002)
    send = delivery_cost()
    outbox_reset(redis_url)
    publish = publish_cost(redis_url)
    targets_configure([])
    for kind in ("single", "batch_100"):
        a, b = off[kind], on[kind]
        log(
            f"  {kind:9} POST in-process: off {a['ms']} ms, 4 targets {b['ms']} ms (outbox rows "
            f"{b['outbox_rows_ms']} ms, publishing {b['publish_ms']} ms for {b['broker_messages']} "
            f"messages); SQL {a['sql']} -> {b['sql']}"
        )
    log(
        f"  apply_async median {publish['apply_async_median_us']} us vs raw LPUSH "
        f"{publish['raw_lpush_median_us']} us; one delivery_send: {send.get('queries')} SQL, "
        f"{send.get('mean_ms')} ms"
    )
    connect_ms = connect_cost(url)
    log(f"  a new PostgreSQL connection + SELECT 1: median {connect_ms} ms")
    return {
        "post_fanout_off": off,
        "post_4_targets": on,
        "publish": publish,
        "delivery_send": send,
        "postgres_connect_ms": connect_ms,
    }
