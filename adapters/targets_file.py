"""Targets declared in ``LRS_TARGETS_FILE`` are upserted into the Target table once per process.

Rows that came from the file are marked ``source=file``; a file target removed
from the file is disabled (its deliveries and history are kept).
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import IntegrityError, transaction

from adapters.config import read_targets_file
from adapters.models import Target

logger = logging.getLogger(__name__)
_loaded = threading.Event()


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
