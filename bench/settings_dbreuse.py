"""A bench what-if for the fan-out bench's workers (``--pools prefork-dbreuse``): the bench settings
plus ``CELERY_DB_REUSE_MAX``, so Celery's Django fix-up stops closing the database connection
before and after every task (it only recycles it every that many tasks)."""

from bench.settings import *  # noqa: F403

CELERY_DB_REUSE_MAX = 1000
