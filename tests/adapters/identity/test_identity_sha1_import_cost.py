"""An import (CSV) of many explicit ``mbox_sha1sum`` links releases what waits under the addresses
they are the SHA-1 of (``adapters.identity.holds``), reading the held deliveries' actors once for
the whole import, not once per row: 1,000 rows against 5,000 held deliveries took 279 s so."""

from __future__ import annotations

import hashlib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from adapters.identity.links import identity_links_import_csv
from adapters.models import Delivery
from tests.adapters.helpers import COURSE, store_now
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db


def sha1_of(address: str) -> str:
    return hashlib.sha1(f"mailto:{address}".encode()).hexdigest()


def test_a_csv_import_of_sha1_links_releases_the_addresses_held_reading_their_actors_once(
    pms_target, django_capture_on_commit_callbacks
):
    held = [make_statement(activity=COURSE, actor_email=f"held{n}@example.com") for n in range(3)]
    store_now(django_capture_on_commit_callbacks, *held)
    assert Delivery.objects.filter(target__name="pms", status=Delivery.HELD).count() == 3
    rows = [f"E{n},{sha1_of(f'new{n}@example.com')}" for n in range(20)]
    rows[7] = f"E7,{sha1_of('held1@example.com')}"
    rows[15] = f"E15,{sha1_of('Held2@example.com')}"  # another spelling: no SHA-1 meets it
    text = "employee_id,mbox_sha1sum\n" + "\n".join(rows) + "\n"

    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        assert identity_links_import_csv(text)["links_created"] == 20

    assert sorted(event["employeeId"] for event in pms_target.events().values()) == ["E7"]
    assert Delivery.objects.filter(target__name="pms", status=Delivery.HELD).count() == 2
    # The held deliveries' actors, as ``holds`` reads them (waiting under an address's key).
    actors_read = [
        query["sql"]
        for query in queries.captured_queries
        if '"payload"' in query["sql"] and "'email:%'" in query["sql"]
    ]
    assert len(actors_read) == 1
