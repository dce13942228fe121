"""One INFO line per HTTP request, on the ``lrs.request`` logger.

Its ``extra`` fields (JSON keys with ``LOG_FORMAT=json``): ``method``, ``path``, ``status``,
``duration_ms``, and, when known, ``credential`` (the name of the xAPI credential that
authenticated) and ``statements`` (how many statements a statements POST or PUT carried). The
path is written without its query string: xAPI queries carry personal data (an agent's JSON, an
e-mail address). Probes, metrics scrapes and static files are left out: they would drown the
rest. Placed inside the correlation middleware, so the line carries the request id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger("lrs.request")

UNLOGGED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class RequestLogMiddleware:
    """Times the rest of the chain and writes the request's line once the response is ready."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.static_prefix = "/" + settings.STATIC_URL.lstrip("/") if settings.STATIC_URL else None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Checked per request (cheap, cached by logging) so the hot path does nothing more when
        # LOG_LEVEL is above INFO.
        if not logger.isEnabledFor(logging.INFO) or self._unlogged(request.path):
            return self.get_response(request)
        started = time.perf_counter()
        response = self.get_response(request)
        self._log(request, response, round((time.perf_counter() - started) * 1000, 1))
        return response

    def _unlogged(self, path: str) -> bool:
        return path in UNLOGGED_PATHS or (
            self.static_prefix is not None and path.startswith(self.static_prefix)
        )

    @staticmethod
    def _log(request: HttpRequest, response: HttpResponse, duration_ms: float) -> None:
        path = request.path
        if not path.isprintable():  # a percent-encoded line break must not forge a plain-text line
            path = path.encode("unicode_escape").decode("ascii")
        fields: dict[str, Any] = {
            "method": request.method,
            "path": path,
            "status": response.status_code,
            "duration_ms": duration_ms,
        }
        # The xAPI views keep the request as they read it on the HttpRequest (lrs/api/base.py).
        xapi = getattr(request, "xapi", None)
        credential = getattr(xapi, "credential", None)
        if credential is not None:
            fields["credential"] = credential.name
        count = getattr(xapi, "statement_count", None)
        if count is not None:
            fields["statements"] = count
        logger.info(
            "%s %s %s %s ms%s%s",
            fields["method"],
            path,
            fields["status"],
            duration_ms,
            f" credential={fields['credential']}" if "credential" in fields else "",
            f" statements={count}" if count is not None else "",
            extra=fields,
        )
