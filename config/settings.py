"""Settings, all from the environment.

``LRS_ENV`` picks the mode: ``production`` (the default: DEBUG off, every secret
required), ``development`` (the README quickstart: SQLite, no broker) or ``test``.
In production a missing or malformed value stops start-up with a message that
names the variable.
"""

from __future__ import annotations

import math
from pathlib import Path

import dj_database_url
from celery.schedules import crontab

from config.env import ImproperlyConfiguredEnv, env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

LRS_ENV = env_str("LRS_ENV", "production")
if LRS_ENV not in {"production", "development", "test"}:
    raise ImproperlyConfiguredEnv(f"LRS_ENV must be production, development or test, got {LRS_ENV!r}")
PRODUCTION = LRS_ENV == "production"

DEBUG = env_bool("DEBUG", LRS_ENV == "development")
if PRODUCTION and DEBUG:
    raise ImproperlyConfiguredEnv("DEBUG must be off when LRS_ENV=production")

if PRODUCTION:
    SECRET_KEY = env_str("SECRET_KEY", required=True) or ""
    if len(SECRET_KEY) < 32:
        raise ImproperlyConfiguredEnv("SECRET_KEY must be at least 32 characters long in production")
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [])
    if not ALLOWED_HOSTS:
        raise ImproperlyConfiguredEnv(
            "ALLOWED_HOSTS must list the host names the LRS serves (comma-separated)"
        )
    _database_url = env_str("DATABASE_URL", required=True)
else:
    SECRET_KEY = env_str("SECRET_KEY", "insecure-development-key-never-use-in-production-0123456789")
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
    _default_db = (
        "postgres://postgres@127.0.0.1:5432/lrs"
        if LRS_ENV == "test"
        else f"sqlite:///{BASE_DIR / 'lrs.sqlite3'}"
    )
    _database_url = env_str("DATABASE_URL", _default_db)

try:
    DATABASES = {
        "default": dj_database_url.parse(_database_url or "", conn_max_age=60, conn_health_checks=True)
    }
except Exception as exc:  # dj_database_url raises several types for a malformed URL
    raise ImproperlyConfiguredEnv(f"DATABASE_URL is malformed: {type(exc).__name__}") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite: wait for the writer lock instead of failing, and take it at BEGIN so
    # concurrent batches queue rather than deadlock (Django 5.1+ "transaction_mode").
    # WAL journal (https://www.sqlite.org/wal.html; Django's init_command,
    # https://docs.djangoproject.com/en/5.2/ref/databases/#setting-pragma-options): a reader keeps
    # its snapshot without holding writers back, so a statement POST commits while an export
    # (adapters/privacy/export.py read_snapshot) or a GET reads; with the rollback journal the
    # commit waited for them up to the busy timeout. Writers still queue one at a time. The mode is
    # kept in the file (a database in memory stays "memory"). synchronous stays FULL, SQLite's
    # default, not WAL's usual NORMAL: NORMAL skips the sync at each commit, and a power loss could
    # then take back statements the LRS had already answered 200 for.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
elif env_bool("LRS_DB_PREPARED_STATEMENTS", True):
    # PostgreSQL: the statement store's insert runs as a prepared statement (lrs/bulk.py), planned
    # once per connection. Django's own queries bind client-side and are never prepared. Behind
    # PgBouncer in transaction mode, use PgBouncer >= 1.21 (max_prepared_statements) or set
    # LRS_DB_PREPARED_STATEMENTS=false.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3" and env_bool("LRS_DB_JIT_OFF", True):
    # PostgreSQL's JIT compiles a query whose estimated cost passes jit_above_cost: the filtered
    # GET /xapi/statements queries (their StatementRef probe is costed per referring statement)
    # spent 30-380 ms compiling to run in under 10 (bench/README.md, "JIT"). An OLTP store gains
    # nothing from it. Behind a PgBouncer that refuses startup options, set LRS_DB_JIT_OFF=false
    # and ALTER ROLE ... SET jit = off instead.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served as static files (no CDN)
    "lrs",
    "adapters",
]

MIDDLEWARE = [
    "config.http_metrics.HttpMetricsMiddleware",  # outermost: the whole answer is timed
    "django.middleware.security.SecurityMiddleware",
    "adapters.correlation.CorrelationIdMiddleware",
    "config.request_log.RequestLogMiddleware",  # inside the request id, which its line names
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Innermost: a database outage under the APIs is a JSON 503 with Retry-After (lrs/api/base.py).
    "lrs.api.base.JsonFailureMiddleware",
]
if PRODUCTION:  # static files (the admin's) from gunicorn: compressed, hashed names, cached for ever
    MIDDLEWARE.insert(2, "whitenoise.middleware.WhiteNoiseMiddleware")  # runserver serves them otherwise
LRS_JSON_ERROR_PATHS = ("/xapi/", "/api/")
LRS_RETRY_AFTER_SECONDS = env_int("LRS_RETRY_AFTER_SECONDS", 5, minimum=1)

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles"))
if PRODUCTION:  # collectstatic (the Dockerfile runs it) writes hashed, compressed copies
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The xAPI endpoints parse their own bodies; this is the cap on one request body
# (a batch of statements), answered with 413 above it.
LRS_MAX_REQUEST_BYTES = env_int("LRS_MAX_REQUEST_BYTES", 20 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = LRS_MAX_REQUEST_BYTES
# The largest single attachment accepted (413 above it), and where attachment bytes are kept.
LRS_MAX_ATTACHMENT_BYTES = env_int("LRS_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024, minimum=1)
LRS_ATTACHMENT_STORE = env_str("LRS_ATTACHMENT_STORE", "lrs.attachment_store.DatabaseAttachmentStore")
# The largest document (state, activity or agent profile) accepted, 413 above it.
LRS_MAX_DOCUMENT_BYTES = env_int("LRS_MAX_DOCUMENT_BYTES", 10 * 1024 * 1024, minimum=1)
# JSON (bodies, multipart statement parts, JSON documents, the agent parameter) nested deeper is a 400.
LRS_MAX_JSON_DEPTH = env_int("LRS_MAX_JSON_DEPTH", 100, minimum=16)
# Statements a GET answers per page (and the ceiling for ?limit=).
LRS_STATEMENTS_PAGE_SIZE = env_int("LRS_STATEMENTS_PAGE_SIZE", 100, minimum=1)
LRS_STATEMENTS_MAX_PAGE_SIZE = env_int("LRS_STATEMENTS_MAX_PAGE_SIZE", 500, minimum=1)
# The version named in responses to requests that carry no valid X-Experience-API-Version.
LRS_DEFAULT_XAPI_VERSION = env_str("LRS_DEFAULT_XAPI_VERSION", "2.0.0")
if LRS_DEFAULT_XAPI_VERSION not in {"1.0.3", "2.0.0"}:
    raise ImproperlyConfiguredEnv("LRS_DEFAULT_XAPI_VERSION must be 1.0.3 or 2.0.0")
# homePage of the account used as authority for statements stored with a credential.
LRS_AUTHORITY_HOMEPAGE = env_str("LRS_AUTHORITY_HOMEPAGE", "http://localhost:8000")
# Erasure (adapters/privacy): an erased person becomes account {homePage: this, name: keyed hash}.
LRS_PSEUDONYM_HOMEPAGE = env_str("LRS_PSEUDONYM_HOMEPAGE", f"{LRS_AUTHORITY_HOMEPAGE}/pseudonyms")
LRS_ERASURE_NOTICE_ATTEMPTS = env_int("LRS_ERASURE_NOTICE_ATTEMPTS", 100, minimum=1)  # one a minute
LRS_PSEUDONYM_KEY = env_str("LRS_PSEUDONYM_KEY", "")  # or LRS_PSEUDONYM_KEY_FILE; default: from SECRET_KEY

# Browser-based xAPI content calls the LRS from other origins (xAPI 1.0.3 Communication 1.3, CORS).
CORS_ALLOW_ALL_ORIGINS = env_bool("LRS_CORS_ALLOW_ALL_ORIGINS", True)
CORS_ALLOWED_ORIGINS = env_list("LRS_CORS_ALLOWED_ORIGINS", [])
CORS_URLS_REGEX = r"^/xapi/.*$"
CORS_ALLOW_HEADERS = [
    "accept",
    "accept-language",
    "authorization",
    "content-type",
    "if-match",
    "if-none-match",
    "x-experience-api-version",
    "x-request-id",
]
CORS_EXPOSE_HEADERS = [
    "etag",
    "last-modified",
    "x-experience-api-version",
    "x-experience-api-consistent-through",
]
CORS_ALLOW_METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON read as strictly as the xAPI resources read it (depth, repeated properties, UTF-8).
    "DEFAULT_PARSER_CLASSES": ["adapters.identity.parsers.StrictJSONParser"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# The API description (config/openapi): drf-spectacular describes the DRF APIs under /api/ and a
# postprocessing hook merges in the hand-maintained xAPI paths (config/openapi/xapi.yaml).
# GET /api/schema/ serves the document (YAML; ?format=json for JSON), GET /api/docs/ Swagger UI.
SPECTACULAR_SETTINGS = {
    "TITLE": "xAPI LRS with reliable fan-out",
    "DESCRIPTION": (
        "The xAPI resources under /xapi/ (xAPI 1.0.3 and 2.0, hand-maintained: config/openapi/xapi.yaml) "
        "and the identity and privacy APIs under /api/ (generated from the views). Every operation but "
        "GET /xapi/about and GET /xapi/ authenticates with HTTP Basic (an LRS credential)."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": "/api/",
    "COMPONENT_SPLIT_PATCH": False,  # PATCH bodies are partial already (adapters/identity/api.py)
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.openapi.schema.merge_xapi_paths",
    ],
}

# Celery: with no broker configured, tasks run in-process (the quickstart).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
# Without a broker: "thread" runs deliveries on background threads fed after commit (one expands
# stored batches, LRS_INPROCESS_DRAIN_THREADS drain targets, one target per thread), so a slow
# target never slows a request or another target; "inline" runs them in the request once it
# commits (tests assert on effects right after a request).
LRS_INPROCESS_DELIVERY = env_str("LRS_INPROCESS_DELIVERY", "inline" if LRS_ENV == "test" else "thread")
LRS_INPROCESS_DRAIN_THREADS = env_int("LRS_INPROCESS_DRAIN_THREADS", 4, minimum=1)
if LRS_INPROCESS_DELIVERY not in {"thread", "inline"}:
    raise ImproperlyConfiguredEnv(
        f"LRS_INPROCESS_DELIVERY must be thread or inline, not {LRS_INPROCESS_DELIVERY!r}"
    )
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Keep a worker's database connection across tasks (Celery's Django fix-up otherwise closes it
# after every task: a new PostgreSQL session per delivery).
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 200, minimum=0)
# Publishing must not stall ingest when the broker is down: fail fast, the sweep re-dispatches.
CELERY_BROKER_CONNECTION_TIMEOUT = env_int("CELERY_BROKER_CONNECTION_TIMEOUT", 2, minimum=1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A Redis that stops answering (a partition, a host gone) fails an operation after this long
# instead of holding the worker, or the web process's publisher thread, for good: the broker and
# the cache alike (without a timeout a read waits forever, a connect for the kernel's minutes).
REDIS_CONNECT_TIMEOUT_SECONDS = 2
REDIS_SOCKET_TIMEOUT_SECONDS = 5
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A task a dead worker held comes back after this long (the sweep also re-runs stuck deliveries).
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=10),
    "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
    "socket_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
    "max_retries": 0,
}
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BEAT_SCHEDULE = {
    "deliveries-sweep": {"task": "adapters.sweep", "schedule": env_int("LRS_SWEEP_SECONDS", 15, minimum=1)},
    "alerts-evaluate": {
        "task": "adapters.alerts_evaluate",
        "schedule": env_int("LRS_ALERT_EVALUATE_SECONDS", 60, minimum=1),
    },
    # Every enabled target, yesterday plus a day of overlap (adapters/reconciliation/tasks.py).
    "reconciliation-nightly": {
        "task": "adapters.reconcile_nightly",
        "schedule": crontab(minute=0, hour=env_int("LRS_RECONCILE_HOUR", 2, minimum=0)),
    },
    # Delete-mode erasures finish once their retractions settled (adapters/privacy/tasks.py).
    "erasures-finish": {"task": "adapters.finish_erasures", "schedule": 60},
    # The retention policy, nightly (adapters/privacy/retention.py).
    "retention-nightly": {
        "task": "adapters.apply_retention",
        "schedule": crontab(minute=30, hour=env_int("LRS_RETENTION_HOUR", 3, minimum=0)),
    },
}

# The shared cache holds the per-target rate-limit counters: Redis when one is configured.
REDIS_URL = env_str("REDIS_URL", CELERY_BROKER_URL if (CELERY_BROKER_URL or "").startswith("redis") else "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
                "socket_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Fan-out: targets declared in a JSON file (see README), loaded at start-up.
LRS_TARGETS_FILE = env_str("LRS_TARGETS_FILE", "")
# Retry policy (adapters/rules/retry.py): backoff base and cap, give-up age; how long a worker owns
# a claimed delivery before the sweep may run it again (longer than any adapter timeout).
LRS_RETRY_BASE_SECONDS = float(env_str("LRS_RETRY_BASE_SECONDS", "2") or 2)
LRS_RETRY_CAP_SECONDS = float(env_str("LRS_RETRY_CAP_SECONDS", "3600") or 3600)
LRS_RETRY_MAX_AGE_SECONDS = float(env_str("LRS_RETRY_MAX_AGE_SECONDS", str(24 * 3600)) or 86400)
LRS_DELIVERY_CLAIM_SECONDS = env_int("LRS_DELIVERY_CLAIM_SECONDS", 120, minimum=1)
# Draining (adapters/delivery/drain.py): deliveries claimed per batch, how long one drain task runs
# before it hands over to a fresh message, how many drains may work one target at once (across
# worker processes), and the sending threads of a worker process (a target's own cap is
# Target.concurrency).
LRS_DRAIN_BATCH = env_int("LRS_DRAIN_BATCH", 200, minimum=1)
LRS_DRAIN_SECONDS = env_int("LRS_DRAIN_SECONDS", 20, minimum=1)
LRS_DRAIN_PARALLELISM = env_int("LRS_DRAIN_PARALLELISM", 2, minimum=1)
LRS_SEND_THREADS = env_int("LRS_SEND_THREADS", 64, minimum=1)
# Reconciliation (adapters/reconciliation): the drift above which `manage.py reconcile` exits 1.
LRS_RECONCILE_MAX_DRIFT_PERCENT = float(env_str("LRS_RECONCILE_MAX_DRIFT_PERCENT", "1") or 1)
# The nightly window: yesterday plus this many days before it (each night re-checks the day before).
LRS_RECONCILE_OVERLAP_DAYS = env_int("LRS_RECONCILE_OVERLAP_DAYS", 1, minimum=0)
# Alerts (adapters/alerts): thresholds (the go-live criteria), hysteresis, where links point.
LRS_ALERT_MAX_DRIFT_PERCENT = float(env_str("LRS_ALERT_MAX_DRIFT_PERCENT", "1") or 1)
LRS_ALERT_MIN_SUCCESS_PERCENT = float(env_str("LRS_ALERT_MIN_SUCCESS_PERCENT", "99") or 99)
LRS_ALERT_MAX_LAG_P95_SECONDS = float(env_str("LRS_ALERT_MAX_LAG_P95_SECONDS", "600") or 600)
LRS_ALERT_MAX_HELD_PERCENT = float(env_str("LRS_ALERT_MAX_HELD_PERCENT", "0.1") or 0.1)
LRS_ALERT_MAX_DEAD_LETTERS_PER_HOUR = float(env_str("LRS_ALERT_MAX_DEAD_LETTERS_PER_HOUR", "1") or 1)
LRS_ALERT_MAX_PAUSED_MINUTES = float(env_str("LRS_ALERT_MAX_PAUSED_MINUTES", "15") or 15)
LRS_ALERT_CLEAR_AFTER = env_int("LRS_ALERT_CLEAR_AFTER", 3, minimum=1)
LRS_ALERT_MIN_DELIVERIES = env_int("LRS_ALERT_MIN_DELIVERIES", 20, minimum=1)
LRS_PUBLIC_URL = env_str("LRS_PUBLIC_URL", "http://localhost:8000")
# CPU priority of Celery's pool processes (config/celery.py): idle (SCHED_IDLE), low (nice 10) or
# normal. Ingest gets the CPU first; the test suite's workers run normal beside pytest's own processes.
LRS_WORKER_CPU_PRIORITY = env_str("LRS_WORKER_CPU_PRIORITY", "normal" if LRS_ENV == "test" else "idle")
if LRS_WORKER_CPU_PRIORITY not in {"idle", "low", "normal"}:
    raise ImproperlyConfiguredEnv(
        f"LRS_WORKER_CPU_PRIORITY must be idle, low or normal, got {LRS_WORKER_CPU_PRIORITY!r}"
    )
# Ingest first (adapters/delivery/pacing/ingest_first.py): while the LMS is sending statements and
# this host's CPU is contended (Linux pressure stall information at least the percent below), the
# fan-out works this share of the time, for at most the seconds below of one burst. 1: never yields
# (the test suite's default, as its workers run beside pytest's own processes). Pressure 50: a
# burst of batch ingest on the bench host measured 71-81 %, a 20 statements/s trickle 8-10 %, other
# tenants of the shared host up to 39 % over five minutes.
_share_default = "1" if LRS_ENV == "test" else "0.2"
_share_text = env_str("LRS_FANOUT_SHARE_UNDER_INGEST", _share_default) or _share_default
try:
    LRS_FANOUT_SHARE_UNDER_INGEST = float(_share_text)
except ValueError:
    LRS_FANOUT_SHARE_UNDER_INGEST = math.nan
if not 0 < LRS_FANOUT_SHARE_UNDER_INGEST <= 1:
    raise ImproperlyConfiguredEnv(
        f"LRS_FANOUT_SHARE_UNDER_INGEST must be a number above 0 and at most 1, got {_share_text!r}"
    )
LRS_FANOUT_YIELD_CPU_PRESSURE = env_int("LRS_FANOUT_YIELD_CPU_PRESSURE", 50, minimum=0)
LRS_FANOUT_YIELD_MAX_SECONDS = env_int("LRS_FANOUT_YIELD_MAX_SECONDS", 60, minimum=0)
# Circuit breaker: a paused target is probed with one delivery this often (adapters/delivery/pacing).
LRS_BREAKER_PROBE_SECONDS = float(env_str("LRS_BREAKER_PROBE_SECONDS", "10") or 10)
# Identity mapping: how e-mail addresses are normalised before matching actors to employees.
LRS_IDENTITY_STRIP_PLUS_ALIASES = env_bool("LRS_IDENTITY_STRIP_PLUS_ALIASES", True)
LRS_IDENTITY_DOTLESS_DOMAINS = env_list("LRS_IDENTITY_DOTLESS_DOMAINS", ["gmail.com", "googlemail.com"])
# Per-process caches on the ingest path: credentials (every request authenticates) and the
# enabled fan-out targets. Changes made in the same process apply at once; others within this.
LRS_CREDENTIAL_CACHE_SECONDS = env_int("LRS_CREDENTIAL_CACHE_SECONDS", 10, minimum=0)
# A web process sends at most one dispatch message per this many ms (adapters/delivery/queue.py, Publisher).
# A message leaves at once after a quiet spell; under load, 50 rather than 25 ms halved the
# publishing CPU per stored statement (one Celery publish costs about 1-2 ms of a web process).
LRS_DISPATCH_MIN_INTERVAL_MS = env_int("LRS_DISPATCH_MIN_INTERVAL_MS", 50, minimum=0)
# Under sustained load the interval doubles up to this (a publish on a busy web process costs
# 2-5 ms of CPU, contending for the GIL with its requests); a trickle keeps the minimum.
LRS_DISPATCH_MAX_INTERVAL_MS = env_int(
    "LRS_DISPATCH_MAX_INTERVAL_MS",
    max(250, LRS_DISPATCH_MIN_INTERVAL_MS),
    minimum=LRS_DISPATCH_MIN_INTERVAL_MS,
)
LRS_TARGETS_CACHE_SECONDS = env_int("LRS_TARGETS_CACHE_SECONDS", 0 if LRS_ENV == "test" else 5, minimum=0)
# Bearer token protecting /metrics and a worker's metrics endpoint (or LRS_METRICS_TOKEN_FILE).
# Without one the metrics are refused, unless LRS_METRICS_PUBLIC (development and test default).
LRS_METRICS_TOKEN = env_str("LRS_METRICS_TOKEN", "")
LRS_METRICS_PUBLIC = env_bool("LRS_METRICS_PUBLIC", LRS_ENV in {"development", "test"})
# A Celery worker serves its own metrics (deliveries, attempts, lag) on this port; 0: none.
LRS_WORKER_METRICS_PORT = env_int("LRS_WORKER_METRICS_PORT", 0, minimum=0)
# Retention (adapters/privacy/retention.py), days per area; 0 or empty: kept forever. Statements
# stored before the cut-off are deleted or pseudonymised (LRS_RETENTION_MODE), documents of a person
# last changed before it deleted, attempt error texts and response excerpts emptied; in batches.
LRS_RETENTION_DAYS = env_int("LRS_RETENTION_DAYS", 0, minimum=0)
LRS_RETENTION_MODE = env_str("LRS_RETENTION_MODE", "delete")
if LRS_RETENTION_MODE not in {"delete", "pseudonymise"}:
    raise ImproperlyConfiguredEnv(
        f"LRS_RETENTION_MODE must be delete or pseudonymise, got {LRS_RETENTION_MODE!r}"
    )
LRS_DOCUMENT_RETENTION_DAYS = env_int("LRS_DOCUMENT_RETENTION_DAYS", 0, minimum=0)
LRS_ATTEMPT_BODY_RETENTION_DAYS = env_int("LRS_ATTEMPT_BODY_RETENTION_DAYS", 30, minimum=0)
LRS_RETENTION_BATCH_SIZE = env_int("LRS_RETENTION_BATCH_SIZE", 1000, minimum=1)

if PRODUCTION:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    # TLS ends at the proxy in front, which must set (or strip) X-Forwarded-Proto: a client's own
    # header would otherwise count as HTTPS. README, "Production".
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
    # For a proxy that does not redirect to HTTPS or send HSTS itself (Django's deploy check W004,
    # W008); the probes and metrics scrapes come over plain HTTP inside the network.
    SECURE_SSL_REDIRECT = env_bool("LRS_SSL_REDIRECT", False)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = env_int("LRS_HSTS_SECONDS", 0, minimum=0)

# Log lines (config/logs.py): plain text, or one JSON object per line for a log collector; secrets
# masked in both. Celery workers and beat log the same way.
LOG_FORMAT = env_str("LOG_FORMAT", "plain")
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfiguredEnv(f"LOG_FORMAT must be plain or json, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"correlation": {"()": "adapters.correlation.CorrelationIdFilter"}},
    "formatters": {
        "plain": {
            "()": "config.logs.PlainFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s",
        },
        "json": {"()": "config.logs.JsonLineFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["correlation"]}
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
