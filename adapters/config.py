"""Validating target configuration, and declaring targets in a file.

Every adapter publishes a JSON schema for its configuration; secret fields
(``"secret": true`` in the schema) must be references (``{"env": ...}`` or
``{"file": ...}``), never values. ``LRS_TARGETS_FILE`` names a JSON file with a
list of ``{"name", "adapter", "config", "filter", "enabled"?, "rate_limit_per_second"?}``,
loaded at start-up so a deployment needs no clicking.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from adapters.filters import FILTER_SCHEMA
from adapters.registry import UnknownAdapter, adapter_class
from adapters.secrets import SECRET_REF_SCHEMA, secret_fields


class ConfigProblem(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _first_error(schema: dict[str, Any], instance: Any, prefix: str) -> None:
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
    _first_error(plain_schema, config, "config")
    _first_error(FILTER_SCHEMA, filter_rules, "filter")


TARGET_FILE_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["name", "adapter", "config"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"},
            "adapter": {"type": "string"},
            "config": {"type": "object"},
            "filter": {"type": "object"},
            "enabled": {"type": "boolean"},
            "rate_limit_per_second": {"type": ["number", "null"], "exclusiveMinimum": 0},
            "max_attempts": {"type": "integer", "minimum": 1},
        },
    },
}


def read_targets_file(path: str) -> list[dict[str, Any]]:
    """Parse and validate a targets file; every problem names the entry and field."""
    try:
        entries = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ConfigProblem("LRS_TARGETS_FILE", f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigProblem("LRS_TARGETS_FILE", f"{path} is not valid JSON: {exc}") from None
    _first_error(TARGET_FILE_SCHEMA, entries, "targets")
    names = set()
    for index, entry in enumerate(entries):
        if entry["name"] in names:
            raise ConfigProblem("targets", f"targets.{index}.name: {entry['name']!r} appears twice")
        names.add(entry["name"])
        try:
            validate_target_config(
                adapter=entry["adapter"], config=entry["config"], filter_rules=entry.get("filter", {})
            )
        except ConfigProblem as problem:
            raise ConfigProblem("targets", f"targets.{index} ({entry['name']}): {problem}") from None
    return entries
