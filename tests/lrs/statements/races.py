"""Two transactions at once, for tests of what the store and erasure do while another writer is
mid-way: the first runs in a transaction held open until the second waits on a lock (or
finishes), then commits."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction


@dataclass
class Outcome:
    """What a thread's work returned (``value``; ``later``: what its ``then`` returned) or raised."""

    value: Any = None
    later: Any = None
    error: BaseException | None = None


@dataclass(frozen=True)
class Race:
    waited: bool  # the second waited on a lock (with a query starting ``lock_query``)
    first: Outcome
    second: Outcome


def wait_for_lock_wait(query_start: str, thread: threading.Thread) -> bool:
    """Whether a backend of this test's database waits on a lock with a query starting so, within
    10 s (False at once when ``thread`` has finished instead). Not any database's: another xdist
    worker's lock wait would let the race go on before it happened."""
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline and thread.is_alive():
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE %s",
                [query_start + "%"],
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.02)
    return False


def in_thread(
    work: Callable[[], Any],
    *,
    in_transaction: bool = True,
    held: threading.Event | None = None,
    hold: threading.Event | None = None,
    then: Callable[[], Any] | None = None,
) -> tuple[threading.Thread, Outcome]:
    """Run ``work`` in its own connection (and transaction, unless ``in_transaction`` is False);
    with ``held``/``hold``: signal once ``work`` ran, and go on (``then``, still in the
    transaction, then commit) only when ``hold`` is set."""
    outcome = Outcome()

    def run() -> None:
        try:
            with transaction.atomic() if in_transaction else contextlib.nullcontext():
                outcome.value = work()
                if held is not None:
                    held.set()
                    assert hold is not None and hold.wait(10)
                if then is not None:
                    outcome.later = then()
        except BaseException as error:  # reported by the test
            outcome.error = error
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def race(
    first: Callable[[], Any],
    second: Callable[[], Any],
    *,
    lock_query: str = "",
    second_in_transaction: bool = True,
    then: Callable[[], Any] | None = None,
) -> Race:
    """Run ``first`` in a transaction held open until ``second`` (in a transaction of its own
    unless ``second_in_transaction`` is False) waits on a lock with a query starting
    ``lock_query`` or finishes; then let the first go on (``then``, in its transaction) and
    commit. Waits for both."""
    ran, go_on = threading.Event(), threading.Event()
    holder, first_outcome = in_thread(first, held=ran, hold=go_on, then=then)
    other = None
    try:
        assert ran.wait(10)
        other, second_outcome = in_thread(second, in_transaction=second_in_transaction)
        waited = wait_for_lock_wait(lock_query, other)
    finally:
        go_on.set()
        holder.join(20)
        if other is not None:
            other.join(20)
    return Race(waited=waited, first=first_outcome, second=second_outcome)
