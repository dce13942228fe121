#!/usr/bin/env bash
# Install everything and run the whole test suite against PostgreSQL on 127.0.0.1:5432
# (pytest-django creates and drops its own test database). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required")'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
.venv/bin/python -m pip install --quiet -e ".[test]"
# The admin's browser test (tests/browser) drives headless Chromium: Debian's, installed when missing.
if ! { command -v chromium && command -v chromedriver; } >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } \
      >/dev/null || { echo "installing chromium and chromium-driver failed" >&2; exit 1; }
  else
    echo "the browser test needs chromium and chromium-driver: apt-get install -y chromium chromium-driver" >&2
    exit 1
  fi
fi
bash scripts/ensure-services.sh
export LRS_ENV=test
.venv/bin/ruff check .
.venv/bin/lint-imports --no-cache >/dev/null || { .venv/bin/lint-imports --no-cache; exit 1; }
.venv/bin/python scripts/check_layout.py
PYTHONWARNINGS=ignore::RuntimeWarning .venv/bin/python manage.py makemigrations --check --dry-run >/dev/null || {
  echo "models and migrations differ: run manage.py makemigrations" >&2
  exit 1
}
# Two processes: the suite spends much of its time waiting on real workers, servers and databases.
exec .venv/bin/pytest -n "${PYTEST_WORKERS:-2}" "$@"
