"""The correlation id: from the statement request (``X-Request-ID``, generated when absent)
into the deliveries it causes, the logs, and the target request headers."""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.http import HttpRequest, HttpResponse

_current: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="")
_SAFE = re.compile(r"^[A-Za-z0-9._:/=+-]{1,100}$")


def current() -> str:
    return _current.get()


@contextmanager
def bound(correlation_id: str) -> Iterator[None]:
    token = _current.set(correlation_id)
    try:
        yield
    finally:
        _current.reset(token)


class CorrelationIdMiddleware:
    """Takes ``X-Request-ID`` when it is a sane token, else makes one; echoes it on the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("X-Request-ID", "")
        correlation_id = given if _SAFE.match(given) else uuid.uuid4().hex
        with bound(correlation_id):
            response = self.get_response(request)
        response["X-Request-ID"] = correlation_id
        return response


class CorrelationIdFilter(logging.Filter):
    """Adds ``correlation_id`` to every log record (``%(correlation_id)s`` in formats)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = current() or "-"
        return True
