"""``/healthz`` and ``/readyz``: unauthenticated, cheap probes for load balancers and orchestrators.

``/healthz``: the process answers (no I/O at all): restart it when this fails. ``/readyz``: the
database is reachable and every migration is applied, and the broker is reachable when one is
configured: send it traffic only when this is 200; a 503 names what failed. Two small views
rather than django-health-check: these are the only checks the LRS needs, and a view here keeps
them out of the admin's URL space and its auth.
"""

from __future__ import annotations

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

_migrated = False  # once true in this process it stays true: migrations are not unapplied live


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database(), "migrations": "not checked"}
    if checks["database"] == "ok":
        checks["migrations"] = _migrations()
    if settings.CELERY_BROKER_URL:
        checks["broker"] = _broker()
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )


def _database() -> str:
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except DatabaseError as exc:
        connection.close()  # the next probe opens a fresh one
        return f"unreachable: {type(exc).__name__}"


def _migrations() -> str:
    global _migrated
    if not _migrated:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if pending:
            return f"{len(pending)} migration(s) not applied"
        _migrated = True
    return "ok"


def _broker() -> str:
    from kombu import Connection

    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as broker:
            broker.ensure_connection(max_retries=1, interval_start=0, timeout=2)
        return "ok"
    except Exception as exc:  # any failure to connect, whatever the transport raises
        return f"unreachable: {type(exc).__name__}"
