"""HTTP request metrics (prometheus-client), counted by the outermost middleware.

``lrs_http_requests_total{view,method,status}`` and the latency histogram
``lrs_http_request_duration_seconds{view,method}`` (the API's p95:
``histogram_quantile(0.95, sum by (le) (rate(
lrs_http_request_duration_seconds_bucket{view=~"xapi-.*"}[5m])))``), and
``lrs_http_auth_failures_total{view}`` (401s: a client with a wrong secret, or someone trying
secrets). ``view`` is the URL pattern's name (``xapi-statements``), never the path, so the label
set stays small whatever clients send; ``/healthz``, ``/readyz``, ``/metrics`` and static files
are left out (probes and scrapes would drown the traffic they measure).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "lrs_http_requests", "HTTP requests by view (URL name), method and status.", ["view", "method", "status"]
)
DURATION = Histogram(
    "lrs_http_request_duration_seconds",
    "Time to answer an HTTP request, by view (URL name) and method.",
    ["view", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
AUTH_FAILURES = Counter(
    "lrs_http_auth_failures", "Requests refused for missing or wrong credentials (401), by view.", ["view"]
)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})
_UNMEASURED = ("/healthz", "/readyz", "/metrics")


class HttpMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._static = settings.STATIC_URL or "/static/"

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path in _UNMEASURED or path.startswith(self._static):
            return self.get_response(request)
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        match = request.resolver_match
        view = (match.view_name or "unnamed") if match is not None else "unmatched"
        method = request.method if request.method in _METHODS else "other"
        REQUESTS.labels(view, method, str(response.status_code)).inc()
        DURATION.labels(view, method).observe(elapsed)
        if response.status_code == 401:
            AUTH_FAILURES.labels(view).inc()
        return response
