"""How log lines are written: plain text (the default, settings.LOGGING) or, with
``LOG_FORMAT=json``, one JSON object per line for a log collector. Both mask secrets on the way
out. Celery workers and beat write the same (``format_celery_handlers``).

python-json-logger rather than structlog: every module here, and Django, Celery, requests and
urllib3 too, logs through the standard library (``logging.getLogger(__name__)``, %-style
messages, ``extra=``). python-json-logger is a ``logging.Formatter``, so each such record becomes
a JSON object, its ``extra`` fields included, without touching a call site. structlog would need
its ``ProcessorFormatter`` bridge for the same result and would add a second logging API that
nothing here calls.

A JSON line holds ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, ``request_id``
(null outside a request or a delivery it caused), then whatever ``extra`` the record carries:
``method``, ``path``, ``status``, ``duration_ms``, ``credential``, ``statements`` on the request
line (``config/request_log.py``); ``target``, ``delivery_id``, ``attempt``, ``outcome`` on a
delivery attempt's line. An exception is the ``exc_info`` string.

Masking is done on the finished line, whichever logger wrote it, so a leak that a library adds
later is caught too: every secret value resolved in this process (``adapters.secrets``; also as
JSON-escaped, percent-encoded and, for a secret URL, path-only text) and any credential after
``Authorization``, in a token field (``access_token``, ``client_secret``...) or as a URL's
password (``https://user:password@host``) becomes ``[redacted]``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from adapters.redaction import masked, secret_forms_of
from adapters.secrets import resolved_values

# Shorter values would mask ordinary words in every line; no real secret is that short.
MIN_SECRET_LENGTH = 6

# Extra record attributes never written: Django's django.request and django.security records
# carry the HttpRequest, whose text form holds the query string (agent JSON, e-mail addresses);
# the request id is written as request_id.
_DROPPED = ("request", "correlation_id")


def _settings_secrets() -> set[str]:
    """The LRS's own secrets (the Django key, the metrics token), once settings are loaded."""
    from django.conf import settings

    if not settings.configured:
        return set()
    return {value for name in ("SECRET_KEY", "LRS_METRICS_TOKEN") if (value := getattr(settings, name, ""))}


def redact(text: str) -> str:
    """``text`` with every known secret and every header or token-field credential masked."""
    secrets = resolved_values() | _settings_secrets()
    return masked(text, secret_forms_of(secrets, MIN_SECRET_LENGTH))


class PlainFormatter(logging.Formatter):
    """The development default: ``logging.Formatter`` with secrets masked."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonLineFormatter(JsonFormatter):
    """One JSON object per line, secrets masked."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(reserved_attrs=[*RESERVED_ATTRS, "taskName", *_DROPPED], **kwargs)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict) -> None:
        log_data["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["message"] = record.message
        request_id = getattr(record, "correlation_id", None)
        if request_id is None:  # a handler without the correlation filter
            from adapters.correlation import current

            request_id = current()
        log_data["request_id"] = request_id if request_id and request_id != "-" else None
        super().add_fields(log_data, record, message_dict)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class MaskedFormatter(logging.Formatter):
    """Another formatter's lines with secrets masked."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record))


def format_celery_handlers(logger: logging.Logger, **kwargs: object) -> None:
    """Receiver of Celery's ``after_setup_logger`` and ``after_setup_task_logger``: a worker or
    beat replaces the root logger's handlers with its own (``--loglevel`` sets the level); their
    lines become JSON lines with LOG_FORMAT=json, and keep Celery's format otherwise, masked in
    both cases."""
    from django.conf import settings

    for handler in logger.handlers:
        if isinstance(handler.formatter, JsonLineFormatter | MaskedFormatter):
            continue
        if settings.LOG_FORMAT == "json":
            handler.setFormatter(JsonLineFormatter())
        else:
            handler.setFormatter(MaskedFormatter(handler.formatter or logging.Formatter()))


def quiet_banner_when_json(sender: object = None, instance: Any = None, **kwargs: object) -> None:
    """Receiver of Celery's ``celeryd_after_setup``: with LOG_FORMAT=json the worker skips its
    start-up banner, many lines of plain text that would break one-JSON-object-per-line (the
    ``ready.`` line is still logged)."""
    from django.conf import settings

    if settings.LOG_FORMAT == "json" and instance is not None:
        instance.quiet = True
