"""Secret references in target configuration.

A target never stores a secret in plain text. Its configuration names where the
secret lives: ``{"env": "PMS_CLIENT_SECRET"}`` (an environment variable) or
``{"file": "/run/secrets/pms"}`` (a secret file). Values are resolved when a
delivery runs and never logged or shown in admin.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

SECRET_REF_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "maxProperties": 1,
    "properties": {"env": {"type": "string", "minLength": 1}, "file": {"type": "string", "minLength": 1}},
}


# Extra headers of a target (a webhook's ``headers``): plain text, or a reference for a value that
# is a secret; adapters.config refuses a header whose name looks secret written out as text.
HEADERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": {"anyOf": [{"type": "string"}, SECRET_REF_SCHEMA]},
    "secret_names": True,
}


def resolved_headers(headers: dict[str, Any]) -> dict[str, str]:
    """``HEADERS_SCHEMA`` headers with every reference resolved."""
    return {
        name: resolve(value, field=f"headers.{name}") if isinstance(value, dict) else value
        for name, value in headers.items()
    }


class SecretUnavailable(Exception):
    """A referenced secret cannot be read; the message names the reference, never a value."""


# Every value resolved in this process: the log formatters mask them wherever they turn up (a
# library's debug line, an exception's text), config/logs.py.
_resolved: set[str] = set()


def resolved_values() -> frozenset[str]:
    return frozenset(_resolved)


def resolve(ref: dict[str, str], *, field: str) -> str:
    if "env" in ref:
        value = os.environ.get(ref["env"])
        if not value:
            raise SecretUnavailable(f"{field}: environment variable {ref['env']} is not set")
        _resolved.add(value)
        return value
    path = Path(ref["file"])
    try:
        value = path.read_text().strip()
    except OSError:
        raise SecretUnavailable(f"{field}: secret file {path} cannot be read") from None
    _resolved.add(value)
    return value


def secret_fields(schema: dict[str, Any]) -> list[str]:
    """Top-level properties of an adapter's config schema marked ``"secret": true``."""
    return [name for name, prop in (schema.get("properties") or {}).items() if prop.get("secret")]


def resolve_all(config: dict[str, Any], schema: dict[str, Any]) -> dict[str, str]:
    return {name: resolve(config[name], field=name) for name in secret_fields(schema) if name in config}


def secret_keys() -> list[str]:
    """``SECRET_KEY``, then each of ``SECRET_KEY_FALLBACKS`` (Django's rotation: the old keys),
    which keyed whatever was derived from it before a rotation; the first keys what is new."""
    from django.conf import settings  # (this module is read before Django is set up, too)

    return [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]


def pseudonym_keys() -> list[bytes]:
    """The keys of the LRS's own pseudonyms (retention's, an erasure's, erased ids' digests):
    ``LRS_PSEUDONYM_KEY``, or derived from each of ``secret_keys``; the first keys new ones."""
    from django.conf import settings

    if settings.LRS_PSEUDONYM_KEY:
        return [settings.LRS_PSEUDONYM_KEY.encode()]
    return [f"lrs-pseudonym:{secret}".encode() for secret in secret_keys()]
