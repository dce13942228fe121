"""The Django floor: the least a Django view can do to store one statement.

Parse the JSON body, one INSERT (autocommit, so one transaction) into a plain
table shaped like the statement row, answer the id as JSON. Same settings,
middleware and gunicorn as the LRS, so ``single POST / this`` is the share of
the achievable request rate the LRS keeps.
"""

from __future__ import annotations

import json
import uuid

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from bench.floor_table import HTTP_FLOOR_TABLE, INSERT_COLUMNS


@csrf_exempt
@require_POST
def floor_insert(request: HttpRequest) -> HttpResponse:
    statement = json.loads(request.body)
    statement_id = statement.get("id") or str(uuid.uuid4())
    context = statement.get("context") or {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {HTTP_FLOOR_TABLE} ({', '.join(INSERT_COLUMNS)}) "
            "VALUES (%s, %s, now(), now(), %s, %s, %s, %s)",
            [
                statement_id,
                request.body.decode(),
                (statement.get("verb") or {}).get("id"),
                (statement.get("actor") or {}).get("mbox"),
                (statement.get("object") or {}).get("id"),
                context.get("registration"),
            ],
        )
    return HttpResponse(json.dumps([statement_id]), content_type="application/json")
