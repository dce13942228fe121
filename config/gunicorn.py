"""gunicorn settings for the LRS (``gunicorn -c python:config.gunicorn config.wsgi``): the
Dockerfile and docker-compose.yml start it so, and command-line flags still override.

Metrics: every worker process counts its HTTP requests (and, without a broker, deliveries) in its
own file of ``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics``, whichever worker answers, adds them
all up (prometheus-client's multi-process mode). The directory must be empty when the server
starts, or counts of a previous run would carry on under reused pids; so the master empties it
(or makes a private one when none is set) before it forks a worker.
https://prometheus.github.io/client_python/multiprocess/
"""

from __future__ import annotations

import gc
import os
from typing import Any

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "4"))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None  # set empty: no access log
# The path without its query string (xAPI queries name people: agent={"mbox": ...}), and neither
# the Referer (an xAPI launch URL carries auth=Basic ... and the actor) nor the Basic user: the
# default format ('"%(r)s" ... "%(f)s"', %(u)s) writes all three. As config/request_log.py.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
if os.environ.get("LOG_FORMAT") == "json":
    # One JSON object per line from every logger: the LRS's own request line (config/request_log,
    # with no query string, which may hold personal data) replaces gunicorn's access log, and
    # gunicorn's error log goes through the same formatter.
    accesslog = None
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "config.logs.JsonLineFormatter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
        "loggers": {"gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False}},
    }
# A worker stuck beyond this is killed and replaced (a request is bounded well below it).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))

# Net allocations (allocations less deallocations) between collections of the youngest generation;
# the older generations keep their thresholds (every 10 collections of the one below).
YOUNG_COLLECTION_THRESHOLD = 10_000


def on_starting(server: Any) -> None:
    from adapters.ops.worker_endpoint import prepare_directory  # stdlib only: no Django here

    prepare_directory(prefix="lrs-web-metrics-")


def post_worker_init(worker: Any) -> None:
    """Once a worker has loaded the application, its objects (modules, classes, settings: most
    of the heap, and alive for good) leave the collector's generations. A full collection then
    walks only what requests allocate: a batch POST allocates tens of thousands of objects,
    and without this every few dozen batches paid a full collection of the whole heap, tens of
    milliseconds. https://docs.python.org/3/library/gc.html#gc.freeze

    The youngest generation is then collected after 10,000 net allocations instead of 700: a
    batch's objects are freed by reference counting, yet at 700 a batch POST of 100 statements
    ran about three young collections (walking the batch's live statements each time) and a
    middle one every fourth batch, for nothing. Only garbage in cycles waits longer: a young
    collection now comes about every hundred batches (bench/inprocess_batch.py), and peak memory
    did not change. https://docs.python.org/3/library/gc.html#gc.set_threshold"""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD)


def child_exit(server: Any, worker: Any) -> None:
    """A worker that is gone no longer counts in live gauges (counters keep what it counted)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    from adapters.ops.worker_endpoint import remove_private_directory

    remove_private_directory()
