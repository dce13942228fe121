#!/usr/bin/env bash
# Set up and run the LRS on embedded defaults: a virtualenv, SQLite, no broker.
# Prints an admin login and a demo xAPI credential, then serves http://127.0.0.1:8000/xapi/
# Fan-out is live: a demo webhook receiver on 127.0.0.1:8001 prints every delivery it gets,
# and deliveries run in-process (retries by a sweeper loop) since there is no broker.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required")'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
.venv/bin/python -m pip install --quiet -e .
export LRS_ENV="${LRS_ENV:-development}"
export LRS_TARGETS_FILE="${LRS_TARGETS_FILE:-config/demo_targets.json}"
export DEMO_WEBHOOK_SECRET="${DEMO_WEBHOOK_SECRET:-demo-webhook-secret}"
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py load_targets
.venv/bin/python manage.py quickstart_accounts

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM
# The demo receiver checks each delivery's HMAC signature and prints it as one JSON line.
.venv/bin/python -m tests.targets.webhook_server --port 8001 --secret "$DEMO_WEBHOOK_SECRET" \
  | sed -u 's/^/[demo receiver] /' &
pids+=($!)
# Without a broker, retries and anything left over are dispatched by this sweep.
.venv/bin/python manage.py deliveries_sweep --loop --interval 5 >/dev/null &
pids+=($!)
.venv/bin/python manage.py runserver "${LRS_ADDRESS:-127.0.0.1:8000}"
