"""The enabled targets that take statements (not those for alerts only), as ingest and the
outbox ask for them (on every stored batch), cached
per process; the targets file is loaded on first use."""

from __future__ import annotations

import time

from django.conf import settings

from adapters.models import Target
from adapters.targets import file as targets_file

_targets_cache: tuple[float, list[Target]] | None = None


def enabled_targets() -> list[Target]:
    """The enabled targets, cached per process for LRS_TARGETS_CACHE_SECONDS (ingest asks on
    every batch); a target saved in this process is seen at once (see ``forget_targets``)."""
    global _targets_cache
    targets_file.ensure_loaded()
    ttl = settings.LRS_TARGETS_CACHE_SECONDS
    now = time.monotonic()
    if ttl > 0 and _targets_cache is not None and _targets_cache[0] > now:
        return _targets_cache[1]
    targets = list(Target.objects.filter(enabled=True).exclude(receives=Target.RECEIVES_ALERTS))
    if ttl > 0:
        _targets_cache = (now + ttl, targets)
    return targets


def forget_targets() -> None:
    global _targets_cache
    _targets_cache = None
