"""JSON for what goes wrong under the APIs, never Django's HTML error page.

A client of the xAPI (an LMS, browser content) or of the identity API must be able to tell "try
again later" from "you sent something wrong" without parsing HTML. So, for requests under the
paths named by ``LRS_JSON_ERROR_PATHS``:

- the database unreachable (a restart, a failover, a network cut: Django's ``OperationalError``
  or ``InterfaceError``) is **503** with ``Retry-After`` (``LRS_RETRY_AFTER_SECONDS``) and a JSON
  body in the usual shape (``error``, ``message``, ``rule``); nothing was stored, so the client
  sends the same request again;
- any other unexpected error is **500**, in JSON too, naming the request id to quote.

Errors Django itself answers (404, 403, 400) pass through. RFC 9110 15.6.4 (503) and 10.2.3
(Retry-After).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse

from lrs.api.base import json_response

logger = logging.getLogger(__name__)

_DJANGO_ANSWERS = (Http404, PermissionDenied, SuspiciousOperation, BadRequest)


class JsonFailureMiddleware:
    """Place it after the middleware that must see every response (CORS, request id)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith(tuple(settings.LRS_JSON_ERROR_PATHS)):
            return None
        if isinstance(exception, _DJANGO_ANSWERS):
            return None
        request_id = request.headers.get("X-Request-ID", "")
        if isinstance(exception, OperationalError | InterfaceError):
            logger.warning(
                "the database is unreachable: %s %s answered 503 (%s)",
                request.method,
                request.path,
                type(exception).__name__,
            )
            response = json_response(
                {
                    "error": "ServiceUnavailable",
                    "message": "the store is unreachable for the moment; nothing was stored or changed. "
                    "Send the same request again after the time in Retry-After",
                    "rule": "storage-unavailable",
                },
                status=503,
            )
            response["Retry-After"] = str(settings.LRS_RETRY_AFTER_SECONDS)
        else:
            logger.exception("unexpected error answering %s %s", request.method, request.path)
            response = json_response(
                {
                    "error": "InternalError",
                    "message": "an unexpected error occurred"
                    + (f"; quote request id {request_id}" if request_id else ""),
                    "rule": "internal",
                },
                status=500,
            )
        if request.path.startswith("/xapi/"):
            response["X-Experience-API-Version"] = settings.LRS_DEFAULT_XAPI_VERSION
        return response
