"""``GET /metrics`` (the web process) and a worker's metrics endpoint: Prometheus text format,
through prometheus-client.

Two sources, one page:
- what this deployment's processes counted (``adapters.ops.instruments``, ``config.http_metrics``):
  with ``PROMETHEUS_MULTIPROC_DIR`` set (gunicorn, Celery prefork) every process of the service
  writes its own file there and the page adds them up; without it, this process's registry;
- what the database holds right now (``adapters.ops.store_gauges``), on the web's page only.

A bearer token (``LRS_METRICS_TOKEN``, or ``LRS_METRICS_TOKEN_FILE``) is required: without one
configured the page is refused outside development and tests (``LRS_METRICS_PUBLIC``), as the
metrics name targets and volumes.
"""

from __future__ import annotations

import hmac
import os

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from adapters.ops.store_gauges import StoreCollector

_store = CollectorRegistry(auto_describe=False)
_store.register(StoreCollector())


def process_metrics() -> bytes:
    """What the processes of this service counted."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def render_metrics(*, include_store: bool = True) -> str:
    page = process_metrics()
    if include_store:
        page += generate_latest(_store)
    return page.decode()


def refusal(authorization: str) -> str | None:
    """Why a scrape with this ``Authorization`` header is refused (None: it is not)."""
    token = settings.LRS_METRICS_TOKEN
    if not token:
        if settings.LRS_METRICS_PUBLIC:
            return None
        return "metrics need LRS_METRICS_TOKEN to be set, then sent as a bearer token\n"
    given = authorization.removeprefix("Bearer ").strip()
    if hmac.compare_digest(given.encode(), token.encode()):
        return None
    return "metrics need a bearer token\n"


def metrics_view(request: HttpRequest) -> HttpResponse:
    refused = refusal(request.headers.get("Authorization", ""))
    if refused is not None:
        response = HttpResponse(refused, status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(render_metrics(), content_type=CONTENT_TYPE_LATEST)
