#!/usr/bin/env bash
# Set up and run the LRS on embedded defaults: a virtualenv, SQLite, no broker.
# Prints an admin login and a demo xAPI credential, then serves http://127.0.0.1:8000/xapi/
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required")'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
.venv/bin/python -m pip install --quiet -e .
export LRS_ENV="${LRS_ENV:-development}"
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py quickstart_accounts
exec .venv/bin/python manage.py runserver "${LRS_ADDRESS:-127.0.0.1:8000}"
