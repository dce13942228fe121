"""``X-Experience-API-Consistent-Through`` stays honest while a batch is being written.

A batch takes its ``stored`` time when its transaction starts; until it commits,
no reader may be told that everything up to a later time is visible.
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#213-get-statements
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from lrs.statements import store
from lrs.statements.selectors import consistent_through

pytestmark = pytest.mark.django_db(transaction=True)


def test_consistent_through_stays_before_the_stored_time_of_an_uncommitted_batch():
    stored_at: list = []
    started = threading.Event()
    release = threading.Event()

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                stored_at.append(store._prelude([], [], look_up_ids=True).stored)
                started.set()
                release.wait(10)
        finally:
            connection.close()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    try:
        assert started.wait(10)
        assert consistent_through() <= stored_at[0]
    finally:
        release.set()
        writer.join()
    assert consistent_through() > stored_at[0]
