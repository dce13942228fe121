"""Validating a target's configuration against its adapter.

Every adapter publishes a JSON schema for its configuration; secret fields
(``"secret": true`` in the schema) must be references (``{"env": ...}`` or
``{"file": ...}``), never values. Targets declared in a file are read by ``adapters.targets.file``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator

from adapters.registry import UnknownAdapter, adapter_class
from adapters.rules.filters import FILTER_SCHEMA
from adapters.secrets import SECRET_REF_SCHEMA, secret_fields


class ConfigProblem(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class SecretInConfig(ConfigProblem):
    """A secret value written out where a reference belongs: refused on save; for a target
    stored before the rule, a warning (``adapters.targets.checks``), not an error that would
    stop ``migrate`` on the upgrade that brought it."""


def first_error(schema: dict[str, Any], instance: Any, prefix: str) -> None:
    errors = sorted(Draft202012Validator(schema).iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        where = ".".join([prefix, *[str(part) for part in error.absolute_path]])
        raise ConfigProblem(prefix, f"{where}: {error.message}")


def validate_target_config(*, adapter: str, config: Any, filter_rules: Any) -> None:
    try:
        cls = adapter_class(adapter)
    except UnknownAdapter as exc:
        raise ConfigProblem("adapter", str(exc)) from None
    schema = cls.config_schema
    for name in secret_fields(schema):
        if isinstance(config, dict) and isinstance(config.get(name), str):
            raise ConfigProblem(
                "config",
                f'config.{name} is a secret: give a reference such as {{"env": "VAR"}} or '
                '{"file": "/run/secrets/name"}, not the value',
            )
    plain_schema = {
        **schema,
        "properties": {
            name: (SECRET_REF_SCHEMA if prop.get("secret") else prop)
            for name, prop in (schema.get("properties") or {}).items()
        },
    }
    first_error(plain_schema, config, "config")
    first_error(FILTER_SCHEMA, filter_rules, "filter")
    _no_secret_values(schema, config)


def _no_secret_values(schema: dict[str, Any], config: dict[str, Any]) -> None:
    """What the schema cannot say: a header whose name looks secret (``Authorization``, an API key,
    a cookie) is a reference, not text; no URL anywhere carries a password."""
    for name, prop in (schema.get("properties") or {}).items():
        if prop.get("secret_names") and isinstance(config.get(name), dict):
            for key, value in config[name].items():
                if isinstance(value, str) and _credential_header(key):
                    raise SecretInConfig(
                        "config",
                        f'config.{name}.{key} looks secret: give a reference such as {{"env": "VAR"}} '
                        'or {"file": "/run/secrets/name"}, not the value',
                    )
    for where, text in _strings(config, "config"):
        if "://" in text and "@" in text:
            try:
                password = urlsplit(text).password
            except ValueError:
                continue
            if password:
                raise SecretInConfig(
                    "config",
                    f"{where} is a URL with a password in it: put the credential in a secret "
                    "(a reference to the environment or a file), not in the URL",
                )


# A header name's words that say it carries a credential. Word by word, not redaction's SECRET_NAME
# (made for masking, where a false hit costs nothing): that matches X-Country-Code, X-Assigned-Team.
_CREDENTIAL_WORDS = {"auth", "authorization", "key", "session", "sig", "credential", "credentials", "bearer"}
_CREDENTIAL_ENDINGS = ("token", "secret", "password", "passwd", "apikey", "signature", "cookie")


def _credential_header(name: str) -> bool:
    words = [word for word in re.split(r"[^a-z0-9]+", name.lower()) if word]
    return any(
        (word in _CREDENTIAL_WORDS and not (word == "key" and words[:index][-1:] == ["idempotency"]))
        or word.endswith(_CREDENTIAL_ENDINGS)
        for index, word in enumerate(words)
    )


def _strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{where}[{index}]")
