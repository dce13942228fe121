"""A Celery worker's own metrics page: what its pool processes counted (deliveries, attempts,
lag), served by the worker's main process on ``LRS_WORKER_METRICS_PORT`` at ``/metrics`` with the
same bearer token as the web's. A worker container shares no files with the web one, so its
counts cannot appear on the web's page; Prometheus scrapes both (README, "Metrics").

The pool processes count in files of ``PROMETHEUS_MULTIPROC_DIR``: ``prepare_directory`` runs in
the main process before the pool forks and before anything imports prometheus-client (whose
storage is chosen at import), so all of them use it.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

logger = logging.getLogger(__name__)

_private_directory: str | None = None


def prepare_directory(prefix: str = "lrs-worker-metrics-") -> None:
    """An empty metrics directory for this service's processes (a private one when none is set),
    before they fork; the Celery worker's here, gunicorn's master's in config/gunicorn.py."""
    if "prometheus_client" in sys.modules:
        logger.warning("prometheus-client was imported before the metrics directory was set")
    global _private_directory
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        _private_directory = tempfile.mkdtemp(prefix=prefix)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = _private_directory
        return
    Path(directory).mkdir(parents=True, exist_ok=True)
    for stale in Path(directory).glob("*.db"):
        stale.unlink()  # a previous run's counts, under pids that may be reused


def remove_private_directory() -> None:
    """At shutdown: the directory ``prepare_directory`` made (one set by the operator stays)."""
    if _private_directory is not None:
        shutil.rmtree(_private_directory, ignore_errors=True)


def _application(environ: dict, start_response: Callable) -> Iterable[bytes]:
    from adapters.ops.metrics import refusal, render_metrics

    if environ.get("PATH_INFO") != "/metrics":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"the metrics are at /metrics\n"]
    refused = refusal(environ.get("HTTP_AUTHORIZATION", ""))
    if refused is not None:
        start_response(
            "401 Unauthorized",
            [("Content-Type", "text/plain"), ("WWW-Authenticate", 'Bearer realm="metrics"')],
        )
        return [refused.encode()]
    from prometheus_client import CONTENT_TYPE_LATEST

    start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
    return [render_metrics(include_store=False).encode()]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # one line per scrape is noise
        pass


def serve(port: int, host: str = "0.0.0.0") -> WSGIServer:  # noqa: S104 (a container's port)
    """Serve the page in a daemon thread of this process; returns the server (``shutdown()``)."""
    server = make_server(host, port, _application, server_class=_Server, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True).start()
    logger.info("worker metrics on port %d at /metrics", server.server_port)
    return server
