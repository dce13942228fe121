"""Requests sent at the same moment from several threads, each with its own Django test client and
database connection (closed when the thread ends), released together by a barrier."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from tests.conftest import XAPIClient

TIMEOUT = 30  # seconds; a thread still running then is a hang, reported by the test
# How many times each race is run (another interleaving each time, the same outcome asked for):
# small in CI; raise it to hunt for a rare interleaving.
ROUNDS = int(os.environ.get("LRS_CONCURRENCY_ROUNDS", "4"))
# The test database on SQLite is in memory with a shared cache, where a second writer fails at once
# ("database table is locked") instead of waiting as on a file (config/settings.py: timeout,
# BEGIN IMMEDIATE); the races also watch PostgreSQL's lock waits (tests/lrs/statements/races.py).
POSTGRESQL_ONLY = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="threads writing at once need PostgreSQL in tests"
)


def client_like(xapi: XAPIClient) -> XAPIClient:
    """A client of its own (Django's test client keeps per-request state) with ``xapi``'s headers."""
    other = XAPIClient(None, None, version="")
    other.headers = dict(xapi.headers)
    other.credential = xapi.credential
    return other


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call in a thread of its own, all started together; their results in order.
    An exception is returned in place of its call's result (the test says what it expected)."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(TIMEOUT)
            results[index] = call()
        except BaseException as error:  # reported by the test
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a request still running after 30 s"
    return results


def statuses(responses: list[Any]) -> list[int]:
    """The status of each response; an exception escaping the view (a 500 in production) fails."""
    errors = [response for response in responses if isinstance(response, BaseException)]
    assert not errors, f"a request raised: {errors[0]!r}"
    return [response.status_code for response in responses]
