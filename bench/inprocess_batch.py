"""Batch-100 ingest in one process: CPU per stored statement of the server's Python, without HTTP.

``python -m bench.inprocess_batch [--batches N] [--rounds R] [--profile FILE]`` POSTs batches of
realistic statements (``bench.statements``) through Django's WSGI handler, as a gunicorn worker
runs them (production settings, the worker's ``post_worker_init`` hook), to its own database
(``HARNESS_DATABASE_URL``, default ``lrs_inprocess`` on the local server; migrated beforehand with
``manage.py migrate``). Each round reports the process CPU (``time.process_time``) per statement,
the part of it spent collecting garbage (``gc.callbacks``) and the collections per batch. The
machine is usually shared: compare CPU, not wall time, in rounds alternated between versions.

``HARNESS_GC=700,10,10`` sets those collector thresholds after the hook (an A/B of the hook's).
``--profile`` writes cProfile data (wall clock) for the timed rounds; for CPU alone, run this under
``py-spy record --native`` and drop the samples waiting in ``poll``.
"""

from __future__ import annotations

import argparse
import base64
import gc
import io
import json
import os
import resource
import secrets
import sys
import time
from collections.abc import Callable
from typing import Any

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/lrs_inprocess"
BATCH_SIZE = 100


def _environ(database_url: str) -> dict[str, str]:
    return {
        "LRS_ENV": "production",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "LOG_LEVEL": "WARNING",
    }


def _poster(handler: Any, authorization: str) -> Callable[[bytes], None]:
    def post(body: bytes) -> None:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/xapi/statements",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_AUTHORIZATION": authorization,
            "HTTP_X_EXPERIENCE_API_VERSION": "1.0.3",
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.version": (1, 0),
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        status: list[str] = []
        response = handler(environ, lambda line, headers, exc_info=None: status.append(line))
        content = b"".join(response)
        response.close()
        if not status[0].startswith("200"):
            raise SystemExit(f"{status[0]}: {content[:500]!r}")

    return post


class _GcClock:
    """Thread CPU spent in garbage collections since ``reset``."""

    def __init__(self) -> None:
        self.spent = 0.0
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.spent += time.thread_time() - self._started

    def reset(self) -> None:
        self.spent = 0.0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=100, help="timed batches per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=20, help="untimed batches first")
    parser.add_argument("--profile", help="write cProfile data of the timed rounds here")
    parser.add_argument("--seed", type=int, default=int(time.time()), help="new statement ids each run")
    args = parser.parse_args(argv)
    os.environ.update(_environ(os.environ.get("HARNESS_DATABASE_URL", DEFAULT_DATABASE_URL)))
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler

    from bench.statements import StatementFactory, Universe
    from config.gunicorn import post_worker_init
    from lrs.credentials.services import credential_upsert

    key, secret = secrets.token_hex(16), secrets.token_urlsafe(32)
    credential_upsert(name=f"inprocess-{key[:8]}", scopes=["all"], key=key, secret=secret)
    post = _poster(WSGIHandler(), "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode())
    factory = StatementFactory(Universe.build(), seed=args.seed)
    bodies = [
        json.dumps(factory.batch(BATCH_SIZE), separators=(",", ":")).encode()
        for _ in range(args.warmup + args.batches * args.rounds)
    ]
    for body in bodies[: args.warmup]:
        post(body)
    post_worker_init(None)  # as a gunicorn worker, once the application is loaded
    if os.environ.get("HARNESS_GC"):
        gc.set_threshold(*(int(value) for value in os.environ["HARNESS_GC"].split(",")))
    print(f"gc thresholds {gc.get_threshold()}", flush=True)
    clock = _GcClock()
    profile = None
    if args.profile:
        import cProfile

        profile = cProfile.Profile()
    figures = []
    statements = args.batches * BATCH_SIZE
    for index in range(args.rounds):
        timed = bodies[args.warmup + index * args.batches :][: args.batches]
        collections = [stats["collections"] for stats in gc.get_stats()]
        clock.reset()
        cpu, wall = time.process_time(), time.perf_counter()
        if profile is not None:
            profile.enable()
        for body in timed:
            post(body)
        if profile is not None:
            profile.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        per_batch = [
            round((stats["collections"] - before) / args.batches, 2)
            for stats, before in zip(gc.get_stats(), collections, strict=True)
        ]
        figures.append(cpu / statements * 1e6)
        print(
            f"round {index}: cpu {figures[-1]:.1f} us/statement (gc {clock.spent / statements * 1e6:.1f}), "
            f"wall {wall / statements * 1e6:.1f}; collections per batch {per_batch}",
            flush=True,
        )
    figures.sort()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    median = figures[len(figures) // 2]
    print(f"cpu us/statement: median {median:.1f}, min {figures[0]:.1f}; peak RSS {peak:.0f} MiB")
    if profile is not None:
        profile.dump_stats(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
