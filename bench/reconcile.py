"""``bash bench/run.sh --reconcile [--reconcile-statements N]``: reconciliation at scale.

Its own database (``lrs_bench_reconcile``), N completions stored through ``statement_store``,
and the tests' fake PMS (``tests/targets/pms_server.py``, over HTTP, read back page by page)
holding an event for each, built by the PMS adapter's own translation, except every hundredth
(1 % lost: the run must find exactly those). Then one ``reconcile`` of the whole window, timed,
with the process's resident memory sampled before and after; and its floor, measured in the same
run: walking the same window through the statement query layer alone (``statement_list`` pages,
no translation, no read-back). Reports statements/s, the ratio to the floor, the time projected
for 1,000,000 statements, and what it found.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from datetime import timedelta
from typing import Any

from bench import database
from bench.cli import RESULTS, log, prepare_database
from bench.django_env import setup_django

DEFAULT_DATABASE = "lrs_bench_reconcile"
COURSE = "https://lms.example.com/courses/safety-101"
LOSE_EVERY = 100


def _rss_mib() -> float:
    for line in open("/proc/self/status").read().splitlines():  # noqa: SIM115 (a /proc read)
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _store(count: int) -> float:
    from lrs.statements.store import statement_store
    from tests.conftest import make_statement

    started = time.perf_counter()
    for start in range(0, count, 1000):
        batch = [
            make_statement(actor_email="learner@example.com", activity=COURSE, result={"completion": True})
            for _ in range(min(1000, count - start))
        ]
        statement_store(statements=batch, credential=None)
        if (start // 1000) % 50 == 49:
            log(f"  stored {start + 1000:,}")
    return time.perf_counter() - started


def _fill(pms: Any, adapter: Any) -> list[str]:
    """The PMS holds every statement's event but every LOSE_EVERY-th; the lost statement ids."""
    from adapters.base import DeliveryContext
    from lrs.statements.models import Statement
    from lrs.statements.selectors import statements_by_pk

    pks = list(Statement.objects.order_by("id").values_list("id", flat=True))
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    context = DeliveryContext(
        target_name="pms", kind="deliver", idempotency_key="", resolved={"employee_id": "E100"}
    )
    lost = []
    with pms.state_lock:
        for start in range(0, len(pks), 2000):
            for index, statement in enumerate(statements_by_pk(pks[start : start + 2000]), start):
                if index % LOSE_EVERY == LOSE_EVERY - 1:
                    lost.append(statement["id"])
                    continue
                event_id = f"evt_{pms._next_id:07d}"
                pms._next_id += 1
                key = f"{statement['id']}:pms:deliver"
                pms._events[event_id] = {
                    "id": event_id,
                    **adapter.event(statement, context),
                    "idempotencyKey": key,
                    "updatedAt": now,
                }
                pms._by_key[key] = event_id
    return lost


def _walk(since: Any, until: Any) -> tuple[int, float]:
    """The floor: the same window through the query layer alone."""
    from lrs.statements.selectors import StatementQuery, statement_list, with_cursor

    query = StatementQuery(since=since, until=until, ascending=True, limit=500)
    read, started = 0, time.perf_counter()
    while True:
        page = statement_list(query)
        read += len(page.statement_pks)
        if page.more_after is None:
            return read, time.perf_counter() - started
        query = with_cursor(query, page.more_after)


def run_reconcile(args: argparse.Namespace, argv: list[str]) -> int:
    url = database.bench_database_url(default_name=DEFAULT_DATABASE)
    prepare_database(url)
    os.environ.update({"OAUTHLIB_INSECURE_TRANSPORT": "1", "BENCH_PMS_SECRET": "pms-secret"})
    setup_django(url)
    from django.utils import timezone

    from adapters.identity.links import Identifiers, identity_links_upsert
    from adapters.models import Target
    from adapters.reconciliation.run import reconcile
    from adapters.registry import adapter_for
    from tests.targets.pms_server import PMSServer

    count = args.reconcile_statements
    identity_links_upsert(employee_id="E100", identifiers=Identifiers(emails=["learner@example.com"]))
    log(f"storing {count:,} completions")
    store_seconds = _store(count)
    since, until = timezone.now() - timedelta(days=1), timezone.now() + timedelta(minutes=30)
    with PMSServer() as pms:
        target = Target.objects.create(
            name="pms",
            adapter="pms",
            config={
                "base_url": pms.url,
                "token_url": pms.token_url,
                "client_id": "lrs-pms",
                "client_secret": {"env": "BENCH_PMS_SECRET"},
            },
        )
        lost = _fill(pms, adapter_for(target.adapter, target.config))
        log(f"the fake PMS holds {count - len(lost):,} events ({len(lost):,} lost); the floor")
        walked, walk_seconds = _walk(since, until)
        log("reconciling")
        rss_before = _rss_mib()
        started = time.perf_counter()
        run = reconcile(target=target, since=since, until=until)
        seconds = time.perf_counter() - started
        rss_after = _rss_mib()
    rate = count / seconds
    floor = walked / walk_seconds
    found_lost = sorted(m["key"] for m in run.mismatches if m["kind"] == "missing")
    summary = {
        "command": "bash bench/run.sh " + " ".join(argv),
        "statements": count,
        "store_seconds": round(store_seconds, 1),
        "reconcile_seconds": round(seconds, 1),
        "statements_per_s": round(rate, 1),
        "floor_walk_statements_per_s": round(floor, 1),
        "ratio_to_floor": round(rate / floor, 3),
        "projected_minutes_for_1m": round(1_000_000 / rate / 60, 1),
        "rss_mib_before_after": [round(rss_before, 1), round(rss_after, 1)],
        "counts": run.counts,
        "drift_percent": run.drift_percent,
        "named_exactly_the_lost": found_lost == sorted(lost)[: len(found_lost)]
        and run.counts["missing"] == len(lost),
        "load_average": os.getloadavg(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "reconcile.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    lines = [
        "",
        f"reconciliation of {count:,} statements against a read-back PMS: {seconds:.1f} s = "
        f"{rate:,.0f} statements/s; 1,000,000 projected in {summary['projected_minutes_for_1m']} min",
        f"floor (the window through the query layer alone): {floor:,.0f}/s; ratio {rate / floor:.2f}",
        f"found: missing {run.counts['missing']:,} of {len(lost):,} lost, extra {run.counts['extra']}, "
        f"different {run.counts['different']}, drift {run.drift_percent} %",
        f"named exactly the lost: {summary['named_exactly_the_lost']}",
        f"resident memory {rss_before:.0f} MiB before, {rss_after:.0f} MiB after",
        f"written: {RESULTS / 'reconcile.json'}",
    ]
    print("\n".join(lines))
    return 0
