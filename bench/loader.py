"""Filling the statement table in-process through ``lrs.statements.store.statement_store``.

Several processes (one per core by default), each its own Django and database
connection, store batches of generated statements; every batch is one
``statement_store`` call, exactly as a POST of that batch would be.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

BATCH_SIZE = 1000
BATCHES_PER_TASK = 20


@dataclass
class LoadReport:
    statements: int
    seconds: float
    processes: int
    batch_size: int

    @property
    def rate(self) -> float:
        return self.statements / self.seconds if self.seconds else 0.0


_credential_key: str | None = None


def _worker_init(database_url: str, credential_key: str) -> None:
    from bench.django_env import setup_django

    global _credential_key
    setup_django(database_url)
    _credential_key = credential_key


def _store_task(seed: int, batches: int, batch_size: int, deadline: float) -> int:
    from bench.statements import StatementFactory, Universe
    from lrs.credentials.models import Credential
    from lrs.statements.store import statement_store

    credential = Credential.objects.get(key=_credential_key)
    factory = StatementFactory(Universe.build(), seed=seed)
    stored = 0
    for _ in range(batches):
        if time.time() >= deadline:
            break
        batch = factory.batch(batch_size)
        stored += len(statement_store(statements=batch, credential=credential, version="1.0.3"))
    return stored


def load_statements(
    *,
    database_url: str,
    credential_key: str,
    total: int,
    seed: int,
    processes: int | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int, float], None] | None = None,
    max_seconds: float = 0.0,
) -> LoadReport:
    """Store ``total`` statements (rounded up to whole batches) with ``processes`` workers,
    stopping after ``max_seconds`` (0: no limit)."""
    processes = processes or max(1, os.cpu_count() or 1)
    if total <= 0:
        return LoadReport(0, 0.0, processes, batch_size)
    batches = max(1, -(-total // batch_size))
    tasks: list[tuple[int, int]] = []
    for index, start in enumerate(range(0, batches, BATCHES_PER_TASK)):
        tasks.append((seed * 1_000_003 + index, min(BATCHES_PER_TASK, batches - start)))
    started = time.perf_counter()
    deadline = time.time() + max_seconds if max_seconds > 0 else float("inf")
    stored = 0
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=processes,
        mp_context=context,
        initializer=_worker_init,
        initargs=(database_url, credential_key),
    ) as pool:
        futures = [
            pool.submit(_store_task, task_seed, count, batch_size, deadline) for task_seed, count in tasks
        ]
        for future in as_completed(futures):
            stored += future.result()
            if progress is not None:
                progress(stored, time.perf_counter() - started)
    return LoadReport(stored, time.perf_counter() - started, processes, batch_size)
