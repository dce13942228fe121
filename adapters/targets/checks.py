"""System check: every target in the database still fits its adapter's configuration schema.

Tagged ``database`` as Django's own database checks: it runs with ``migrate`` and with
``manage.py check --database default`` (run it before starting web and workers), so a
target broken by an adapter upgrade is named at start-up instead of at its first delivery.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register
from django.db import DatabaseError

from adapters.config import ConfigProblem, validate_target_config


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
        except ConfigProblem as problem:
            problems.append(Error(f"target {target.name!r}: {problem}", id="adapters.E001", obj=target))
    return problems
