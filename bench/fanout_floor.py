"""The drain's floor: the same HTTP client code posting the same signed payloads to the same
receiver in a tight loop, with no database, no Celery and no threads; as many processes as the
worker has.

Each process builds its requests first (the webhook adapter's ``translate``, signature
included, untimed), then sends them one after another through ``adapters.http.send`` (the one
HTTP seam the drain's sending threads use) for ``seconds``. The figure is what the machine can
post with our client code; the drain's rate as a share of it shows what claiming, preparing and
recording cost on top.
"""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

from bench.fanout_db import SECRET_ENV, target_name


def _sender(url: str, secret: str, statements: list[dict], seconds: float, results: Any) -> None:
    from adapters import http
    from adapters.base import DELIVER, DeliveryContext
    from adapters.delivery.outbox import idempotency_key
    from adapters.registry import adapter_class

    adapter = adapter_class("webhook")({"url": url, "secret": {"env": SECRET_ENV}}, {"secret": secret})
    requests = [
        adapter.translate(
            statement,
            DeliveryContext(
                target_name=target_name(0),
                kind=DELIVER,
                idempotency_key=idempotency_key(statement["id"], target_name(0), DELIVER),
                resolved={"actor": {"pseudonym": "floor"}},
            ),
        )
        for statement in statements
    ]
    http.send(requests[0])  # the connection is opened before the clock starts, as a drain's is
    sent = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        result = http.send(requests[sent % len(requests)])
        if not 200 <= (result.status_code or 0) < 300:
            raise RuntimeError(f"floor: the receiver answered {result.status_code}")
        sent += 1
    results.put((sent, time.perf_counter() - started))


def http_floor(url: str, secret: str, statements: list[dict], processes: int, seconds: float = 5.0) -> dict:
    """Requests per second of ``processes`` forked senders in a tight loop (all of them together)."""
    from django.db import connections

    # Closed before the fork: a child closing its copy of the connection would end the parent's
    # session (the close sends PostgreSQL a Terminate over the shared socket).
    connections.close_all()
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    senders = [
        context.Process(target=_sender, args=(url, secret, statements, seconds, results))
        for _ in range(processes)
    ]
    for sender in senders:
        sender.start()
    finished = [results.get(timeout=seconds + 60) for _ in senders]
    for sender in senders:
        sender.join(10)
    sent = sum(count for count, _ in finished)
    longest = max(elapsed for _, elapsed in finished)
    return {
        "processes": processes,
        "seconds": round(longest, 2),
        "requests": sent,
        "requests_per_s": round(sent / longest, 1),
    }
