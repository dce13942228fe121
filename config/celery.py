"""The Celery app. Tasks are thin: they load by id and call a service."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("lrs")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _database_connections_checked(sender: object = None, **kwargs: object) -> None:
    """Before and after every task, as Django does around every request: a connection that broke
    (a database restart) or outlived CONN_MAX_AGE is closed, and the next query checks the kept
    one (CONN_HEALTH_CHECKS) and reconnects if it is dead. Celery's own fix-up only closes
    connections every CELERY_DB_REUSE_MAX tasks, so one worker process could fail every task for
    minutes after a quarter-second restart. Not for eager tasks, which run inside the caller's
    request or transaction."""
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
