"""Settings from the environment fail loudly in production mode."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_settings(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LRS_", "DJANGO_", "DATABASE_"))}
    clean.update(env)
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import config.settings as s; print(s.DEBUG, s.DATABASES['default']['ENGINE'])",
        ],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_without_secret_key_fails_naming_it():
    result = load_settings(
        LRS_ENV="production", ALLOWED_HOSTS="lrs.example.com", DATABASE_URL="postgres://x@y/z"
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_with_everything_set_starts_with_debug_off(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("k" * 50)
    result = load_settings(
        LRS_ENV="production",
        SECRET_KEY_FILE=str(secret_file),
        ALLOWED_HOSTS="lrs.example.com",
        DATABASE_URL="postgres://lrs@db:5432/lrs",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "django.db.backends.postgresql"]


def test_production_refuses_debug_on():
    result = load_settings(
        LRS_ENV="production",
        SECRET_KEY="k" * 50,
        ALLOWED_HOSTS="x",
        DATABASE_URL="postgres://a@b/c",
        DEBUG="true",
    )
    assert result.returncode != 0
    assert "DEBUG must be off" in result.stderr


def test_malformed_boolean_is_named():
    result = load_settings(LRS_ENV="development", DEBUG="perhaps")
    assert "DEBUG must be a boolean" in result.stderr


def test_malformed_database_url_is_named_without_echoing_it():
    result = load_settings(LRS_ENV="development", DATABASE_URL="nosuchscheme://secretpassword@host/db")
    assert result.returncode != 0
    assert "DATABASE_URL is malformed" in result.stderr
    assert "secretpassword" not in result.stderr


def test_a_fanout_share_outside_zero_to_one_is_named_with_its_rule():
    for bad in ("0", "1.5", "quarter"):
        result = load_settings(LRS_ENV="development", LRS_FANOUT_SHARE_UNDER_INGEST=bad)
        assert result.returncode != 0
        assert "LRS_FANOUT_SHARE_UNDER_INGEST must be a number above 0 and at most 1" in result.stderr
        assert repr(bad) in result.stderr
    assert load_settings(LRS_ENV="development", LRS_FANOUT_SHARE_UNDER_INGEST="0.5").returncode == 0


def test_a_dispatch_interval_ceiling_below_its_floor_is_named_with_its_rule():
    result = load_settings(LRS_ENV="development", LRS_DISPATCH_MAX_INTERVAL_MS="20")
    assert result.returncode != 0
    assert "LRS_DISPATCH_MAX_INTERVAL_MS must be at least 50, got 20" in result.stderr
    # A larger floor alone raises the default ceiling with it.
    assert load_settings(LRS_ENV="development", LRS_DISPATCH_MIN_INTERVAL_MS="400").returncode == 0


def test_the_fanout_yields_to_ingest_by_default_except_under_test_where_its_workers_share_the_cpu():
    def share(**env: str) -> str:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("LRS_", "DJANGO_", "DATABASE_"))}
        done = subprocess.run(
            [sys.executable, "-c", "import config.settings as s; print(s.LRS_FANOUT_SHARE_UNDER_INGEST)"],
            cwd=ROOT,
            env={**clean, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert share(LRS_ENV="development") == "0.2"
    assert share(LRS_ENV="test") == "1.0"
    assert share(LRS_ENV="test", LRS_FANOUT_SHARE_UNDER_INGEST="") == "1.0"  # empty: the default
    result = load_settings(LRS_ENV="development", LRS_FANOUT_YIELD_CPU_PRESSURE="-5")
    assert result.returncode != 0 and "LRS_FANOUT_YIELD_CPU_PRESSURE" in result.stderr


def test_development_defaults_to_sqlite_with_debug():
    result = load_settings(LRS_ENV="development")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "django.db.backends.sqlite3"]


def database_options(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LRS_", "DJANGO_", "DATABASE_"))}
    clean.update(env)
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings as s; print(s.DATABASES['default'].get('OPTIONS'))"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_postgresql_prepares_the_ingest_statements_unless_told_not_to():
    # lrs/bulk.py execute_prepared: prepared only when psycopg's prepare_threshold is set.
    url = "postgres://lrs@db:5432/lrs"
    assert "'prepare_threshold': 5" in database_options(LRS_ENV="test", DATABASE_URL=url)
    off = database_options(LRS_ENV="test", DATABASE_URL=url, LRS_DB_PREPARED_STATEMENTS="false")
    assert "prepare_threshold" not in off
    assert "prepare_threshold" not in database_options(LRS_ENV="test", DATABASE_URL="sqlite:///x.db")


def test_postgresql_sessions_run_without_jit_unless_told_not_to():
    # Its compile time dwarfed the filtered statement queries' run time (bench/README.md, "JIT").
    url = "postgres://lrs@db:5432/lrs"
    assert "'options': '-c jit=off'" in database_options(LRS_ENV="test", DATABASE_URL=url)
    assert "jit" not in database_options(LRS_ENV="test", DATABASE_URL=url, LRS_DB_JIT_OFF="false")
    assert "jit" not in database_options(LRS_ENV="test", DATABASE_URL="sqlite:///x.db")


def test_a_redis_that_stops_answering_fails_a_cache_call_in_seconds_instead_of_holding_it(tmp_path):
    """A partitioned Redis answers nothing: a cache read without a socket timeout waits for good
    (the drain's slot keys, the publisher thread's ingest mark). redis-py 8 defaults to 5 s, but
    redis 5, which pyproject allows, to no timeout: the settings set it, as for the broker. Here
    the listening socket completes the TCP handshake (the kernel's backlog) and never answers."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    script = (
        "import time, django; django.setup()\n"
        "from django.core.cache import cache\n"
        "began = time.monotonic()\n"
        "try:\n"
        "    cache.get('anything')\n"
        "except Exception as error:\n"
        "    print(type(error).__name__, round(time.monotonic() - began, 1))\n"
        "kwargs = cache._cache.get_client().connection_pool.connection_kwargs\n"
        "print(kwargs['socket_connect_timeout'], kwargs['socket_timeout'])\n"
    )
    prefixes = ("LRS_", "DJANGO_", "DATABASE_", "REDIS_")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    clean.update(
        LRS_ENV="test", DJANGO_SETTINGS_MODULE="config.settings", REDIS_URL=f"redis://127.0.0.1:{port}/0"
    )
    try:
        result = subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
        )
    finally:
        silent.close()
    assert result.returncode == 0, result.stderr
    error, seconds, connect_timeout, read_timeout = result.stdout.split()
    assert error == "TimeoutError"
    assert 4 <= float(seconds) < 15
    # As configured, whatever the client library's defaults.
    assert (connect_timeout, read_timeout) == ("2", "5")
