"""Setting up Django in a bench process (the loader and the EXPLAIN runner work in-process)."""

from __future__ import annotations

import os

SETTINGS_MODULE = "bench.settings"


def in_process_environ(database_url: str) -> dict[str, str]:
    """Environment for in-process Django and ``manage.py``: test mode against the bench database."""
    return {
        "LRS_ENV": "test",
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
        "LOG_LEVEL": "WARNING",
        # As in production (test mode reads the enabled targets on every batch).
        "LRS_TARGETS_CACHE_SECONDS": "5",
    }


def setup_django(database_url: str) -> None:
    os.environ.update(in_process_environ(database_url))
    import django

    django.setup()
