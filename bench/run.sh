#!/usr/bin/env bash
# The LRS bench in one command: bash bench/run.sh [--statements N] [other options, see --help].
# Needs the project venv (.venv) and PostgreSQL reachable (default postgres://postgres@127.0.0.1:5432);
# it drops and recreates its own database (lrs_bench; lrs_bench_fanout with --fanout). Results go to bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ] || [ ! -x .venv/bin/gunicorn ]; then
  echo "bench: .venv with the project installed is required (bash scripts/test.sh creates it)" >&2
  exit 1
fi
exec .venv/bin/python -m bench.cli "$@"
