"""SQL statements per POST: what one request costs in database round trips.

Runs one single-statement POST and one batch POST in-process (Django test
client, same views and services as under gunicorn) and captures the SQL, so an
ingest rate far under its floor can be read against the round trips it pays.
Needs Django set up (``bench.django_env.setup_django``).
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from bench.statements import StatementFactory, Universe


def _post(client: Any, auth: str, body: Any) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.post(
            "/xapi/statements",
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=auth,
            HTTP_X_EXPERIENCE_API_VERSION="1.0.3",
        )
    if response.status_code != 200:
        raise RuntimeError(f"POST answered {response.status_code}: {response.content[:300]!r}")
    return [" ".join(item["sql"].split())[:160] for item in captured.captured_queries]


def post_roundtrips(key: str, secret: str, batch_size: int = 100) -> dict[str, Any]:
    from django.test import Client

    client = Client()
    auth = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()
    factory = StatementFactory(Universe.build(), seed=987654)
    # The first statement about an activity records it; the next reads its definition back. From
    # then on a statement about it takes the one-statement path (lrs/statements/single.py), as
    # nearly every statement of a running LMS does.
    about_known_activities = factory.statement()
    for _ in range(3):
        single = _post(client, auth, {**about_known_activities, "id": str(uuid.uuid4())})
    # A process's first batch also reads the column types of the tables it copies into, once
    # (lrs/statements/bulk.py): the figure is of the batches after it.
    _post(client, auth, factory.batch(batch_size))
    batch = _post(client, auth, factory.batch(batch_size))
    return {
        "single_post_queries": len(single),
        f"batch_{batch_size}_post_queries": len(batch),
        "single_post_sql": single,
    }
