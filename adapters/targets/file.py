"""Targets declared in a file: ``LRS_TARGETS_FILE`` names a JSON file with a list of
``{"name", "adapter", "config", "filter", "enabled"?, "rate_limit_per_second"?}``, read and
validated at start-up (every problem names the entry and field) and upserted into the Target table
once per process, so a deployment needs no clicking.

Rows that came from the file are marked ``source=file``; a file target removed
from the file is disabled (its deliveries and history are kept).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from adapters.config import ConfigProblem, first_error, validate_target_config
from adapters.models import Target
from lrs.xapi import json_limits
from lrs.xapi.errors import XAPIValidationError
from lrs.xapi.json_types import parse_json as strict_json

logger = logging.getLogger(__name__)
_loaded = threading.Event()

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
            "concurrency": {"type": "integer", "minimum": 1, "maximum": 1000},
            "receives": {"enum": ["statements", "alerts", "both"]},
        },
    },
}


def read_targets_file(path: str) -> list[dict[str, Any]]:
    """Parse and validate a targets file; every problem names the entry and field."""
    try:
        text = Path(path).read_text()
        # Read as the xAPI resources read JSON: nesting within LRS_MAX_JSON_DEPTH (deeper was a
        # RecursionError), no property twice (the last was kept silently), no lone surrogate.
        json_limits.max_depth_set(settings.LRS_MAX_JSON_DEPTH)
        entries = strict_json(text, path="targets")
    except OSError as exc:
        raise ConfigProblem("LRS_TARGETS_FILE", f"cannot read {path}: {exc.strerror}") from None
    except XAPIValidationError as exc:
        raise ConfigProblem("LRS_TARGETS_FILE", f"{path}: {exc.describe()} (rule {exc.rule})") from None
    except ValueError as exc:
        raise ConfigProblem("LRS_TARGETS_FILE", f"{path} is not valid JSON: {exc}") from None
    first_error(TARGET_FILE_SCHEMA, entries, "targets")
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


def sync_targets_file(path: str | None = None) -> list[str]:
    """Upsert the file's targets; returns their names. Raises ConfigProblem for a bad file."""
    path = path if path is not None else settings.LRS_TARGETS_FILE
    if not path:
        return []
    entries = read_targets_file(path)
    names = []
    with transaction.atomic():
        for entry in entries:
            defaults = {
                "adapter": entry["adapter"],
                "config": entry["config"],
                "filter": entry.get("filter", {}),
                "enabled": entry.get("enabled", True),
                "rate_limit_per_second": entry.get("rate_limit_per_second"),
                "max_attempts": entry.get("max_attempts", 12),
                "concurrency": entry.get("concurrency", 32),
                "receives": entry.get("receives", Target.RECEIVES_STATEMENTS),
                "source": Target.SOURCE_FILE,
            }
            try:
                with transaction.atomic():
                    Target.objects.update_or_create(name=entry["name"], defaults=defaults)
            except IntegrityError:  # another process created it at the same moment
                Target.objects.filter(name=entry["name"]).update(**defaults)
            names.append(entry["name"])
        Target.objects.filter(source=Target.SOURCE_FILE).exclude(name__in=names).update(
            enabled=False, disabled_reason="removed from LRS_TARGETS_FILE"
        )
    logger.info("loaded %d target(s) from %s", len(names), path)
    return names


def ensure_loaded() -> None:
    if _loaded.is_set() or not settings.LRS_TARGETS_FILE:
        return
    sync_targets_file()
    _loaded.set()
