"""The Celery app. Tasks are thin: they load by id and call a service."""

import os
import sys

from celery import Celery, signals
from celery.signals import task_postrun, task_prerun, worker_process_init, worker_ready, worker_shutdown

from config.logs import format_celery_handlers, quiet_banner_when_json

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def _worker_metrics_port() -> int:
    return int(os.environ.get("LRS_WORKER_METRICS_PORT") or 0)


if _worker_metrics_port() and "worker" in sys.argv[1:]:
    # Here, as ``celery -A config worker`` loads the app: before Django (which the CLI sets up
    # early) imports prometheus-client, whose storage is chosen at import, and before the pool
    # forks, so every pool process counts in the directory the worker's metrics page adds up.
    from adapters.ops.worker_endpoint import prepare_directory

    prepare_directory()

app = Celery("lrs")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Workers and beat: Celery's log handlers write JSON lines with LOG_FORMAT=json (and no plain-text
# banner), Celery's own format otherwise; secrets masked in both (config/logs.py).
signals.after_setup_logger.connect(format_celery_handlers)
signals.after_setup_task_logger.connect(format_celery_handlers)
signals.celeryd_after_setup.connect(quiet_banner_when_json)


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


@worker_process_init.connect
def _yield_the_cpu_to_ingest(**kwargs: object) -> None:
    """A pool process runs at the CPU priority ``LRS_WORKER_CPU_PRIORITY`` names: ``idle`` (Linux
    SCHED_IDLE, the production default), ``low`` (niceness 10) or ``normal``. On a host shared with
    the web processes, a drain running flat out then takes only the CPU that ingest leaves, so a
    backlog waits rather than the LMS (bench/README.md, "ingest with the drain"). Only the pool's
    processes: the main process, which talks to the broker, keeps its priority. Lowering one's own
    priority needs no privilege; a priority is never raised."""
    from django.conf import settings

    priority = settings.LRS_WORKER_CPU_PRIORITY
    if priority == "idle" and hasattr(os, "sched_setscheduler"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    elif priority in {"idle", "low"} and hasattr(os, "setpriority"):
        os.setpriority(os.PRIO_PROCESS, 0, max(10, os.getpriority(os.PRIO_PROCESS, 0)))


@worker_ready.connect
def _serve_metrics(**kwargs: object) -> None:
    if _worker_metrics_port():
        from adapters.ops.worker_endpoint import serve

        serve(_worker_metrics_port())


@worker_shutdown.connect
def _remove_metrics_directory(**kwargs: object) -> None:
    if _worker_metrics_port():
        from adapters.ops.worker_endpoint import remove_private_directory

        remove_private_directory()
