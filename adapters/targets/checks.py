"""System check: every target in the database still fits its adapter's configuration schema, and
the secrets it names can be read here.

Tagged ``database`` as Django's own database checks: it runs with ``migrate`` and with
``manage.py check --database default`` (run it before starting web and workers), so a
target broken by an adapter upgrade, or naming an environment variable or secret file this
process does not have, is named at start-up instead of at its first delivery (a secret that
cannot be read fails every attempt).

``config_errors`` and ``missing_secrets`` say everything wrong at once; the target admin form
uses them too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.checks import Error, register
from django.core.checks import Warning as CheckWarning
from django.db import DatabaseError
from jsonschema import Draft202012Validator, ValidationError

from adapters.config import ConfigProblem, SecretInConfig, validate_target_config
from adapters.registry import UnknownAdapter, adapter_class
from adapters.secrets import SECRET_REF_SCHEMA, secret_fields


def _where(prefix: str, error: ValidationError) -> str:
    return ".".join([prefix, *[str(part) for part in error.absolute_path]])


def _closest_branch(error: ValidationError) -> list[ValidationError]:
    """For a oneOf/anyOf failure: the errors of the alternative that came closest (one whose
    discriminator, a ``const`` or ``enum``, matched, then the fewest errors)."""
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context or []:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    if not branches:
        return []

    def distance(errors: list[ValidationError]) -> tuple[bool, int]:
        return (any(sub.validator in ("const", "enum") for sub in errors), len(errors))

    return min(branches.values(), key=distance)


def schema_messages(schema: dict[str, Any], instance: Any, prefix: str) -> list[str]:
    """Every way ``instance`` misses ``schema``, each with its path ("config.url: ...")."""
    messages = []
    errors = sorted(Draft202012Validator(schema).iter_errors(instance), key=lambda e: list(e.absolute_path))
    for error in errors:
        closest = _closest_branch(error) if error.validator in ("oneOf", "anyOf") else []
        if closest:
            messages += [f"{_where(prefix, sub)}: {sub.message}" for sub in closest]
        else:
            messages.append(f"{_where(prefix, error)}: {error.message}")
    return list(dict.fromkeys(messages))


def config_errors(adapter: str, config: Any) -> list[str]:
    """All the problems of a target's configuration (not its filter) for ``adapter``."""
    try:
        schema = adapter_class(adapter).config_schema
    except UnknownAdapter as exc:
        return [f"adapter: {exc}"]
    given = config if isinstance(config, dict) else {}
    plain_values = [name for name in secret_fields(schema) if isinstance(given.get(name), str)]
    found = [
        f'config.{name} is a secret: give a reference such as {{"env": "VAR"}} or '
        '{"file": "/run/secrets/name"}, not the value'
        for name in plain_values
    ]
    plain_schema = {
        **schema,
        "properties": {
            name: (SECRET_REF_SCHEMA if prop.get("secret") else prop)
            for name, prop in (schema.get("properties") or {}).items()
        },
    }
    return found + [
        message
        for message in schema_messages(plain_schema, config, "config")
        if not any(message.startswith(f"config.{name}: ") for name in plain_values)
    ]


def missing_secrets(adapter: str, config: Any) -> list[str]:
    """The secret references of a target that cannot be read in this process: an environment
    variable that is unset (or empty), a secret file that is missing or unreadable."""
    try:
        schema = adapter_class(adapter).config_schema
    except UnknownAdapter:
        return []
    if not isinstance(config, dict):
        return []
    found = []
    for name in secret_fields(schema):
        ref = config.get(name)
        if not isinstance(ref, dict):
            continue
        if isinstance(ref.get("env"), str) and not os.environ.get(ref["env"]):
            found.append(f"config.{name}: environment variable {ref['env']} is not set")
        elif isinstance(ref.get("file"), str) and not os.access(Path(ref["file"]), os.R_OK):
            found.append(f"config.{name}: secret file {ref['file']} is missing or cannot be read")
    return found


@register("adapters", "database")
def check_targets(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[Error]:
    if not databases:
        return []  # checks that touch the database run only when asked to (as Django's own do)
    from adapters.models import Target

    problems = []
    try:
        targets = list(Target.objects.filter(enabled=True))
    except DatabaseError:  # not migrated yet
        return []
    for target in targets:
        try:
            validate_target_config(adapter=target.adapter, config=target.config, filter_rules=target.filter)
        except SecretInConfig as problem:  # saved before the rule: it still sends (see SecretInConfig)
            hint = "Edit the target: give the value as a reference; it cannot be saved as it is."
            problems.append(
                CheckWarning(f"target {target.name!r}: {problem}", hint=hint, id="adapters.W001", obj=target)
            )
        except ConfigProblem as problem:
            problems.append(Error(f"target {target.name!r}: {problem}", id="adapters.E001", obj=target))
            continue
        problems += [
            Error(
                f"target {target.name!r}: {missing}",
                hint="Set the variable (or mount the file) for web and workers, or change the reference.",
                id="adapters.E002",
                obj=target,
            )
            for missing in missing_secrets(target.adapter, target.config)
        ]
    return problems
