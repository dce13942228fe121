#!/usr/bin/env bash
# Set up and run the LRS on embedded defaults: a virtualenv, SQLite, no broker.
# Prints an admin login and a demo xAPI credential, then serves http://127.0.0.1:8000/xapi/
# Fan-out is live: local stand-ins for a webhook receiver, the PMS, the talent marketplace,
# Slack and Microsoft Graph listen on 127.0.0.1:8101-8105 and print every request they get;
# deliveries run in-process (retries by a sweeper loop) since there is no broker.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required")'
ADDRESS="${LRS_ADDRESS:-127.0.0.1:8000}"
# Refuse to start, naming the port, when one it needs is taken (a quickstart already running).
"$PYTHON" - "$ADDRESS" <<'PY'
import socket, sys
host, _, port = sys.argv[1].rpartition(":")
needed = [(host or "127.0.0.1", int(port), "the LRS")] + [("127.0.0.1", p, "a downstream stand-in") for p in range(8101, 8106)]
for host, port, what in needed:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        if probe.connect_ex((host, port)) == 0:
            sys.exit(f"quickstart: port {port} ({what}) is taken: is another quickstart running? Stop it first.")
PY

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
.venv/bin/python -m pip install --quiet -e .
export LRS_ENV="${LRS_ENV:-development}"
export LRS_TARGETS_FILE="${LRS_TARGETS_FILE:-config/demo_targets.json}"
# The demo targets' secrets (the stand-ins' demo credentials; never real ones).
export DEMO_WEBHOOK_SECRET="${DEMO_WEBHOOK_SECRET:-demo-webhook-secret}"
export DEMO_PMS_SECRET=pms-secret DEMO_MARKETPLACE_SECRET=marketplace-secret DEMO_GRAPH_SECRET=graph-secret
export DEMO_SLACK_TOKEN=xoxb-000000000000-0000000000000-fakebottoken000000000000
# The stand-ins speak plain http on loopback; requests-oauthlib needs this to talk OAuth to them.
export OAUTHLIB_INSECURE_TRANSPORT=1
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py load_targets
.venv/bin/python manage.py load_demo_data
.venv/bin/python manage.py quickstart_accounts

pids=()
cleanup() {
  trap - EXIT INT TERM
  # Every child and its own children (runserver's autoreloader runs the server as a child).
  for pid in "${pids[@]}"; do pkill -TERM -P "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# The stand-ins check each request against the real API's shape and print it: one JSON summary
# line, then the payload they received (pretty, truncated).
# (Process substitution, not a pipe: $! is then the stand-ins' own process, which cleanup stops.)
.venv/bin/python -m tests.targets.run_all --base-port 8101 --webhook-secret "$DEMO_WEBHOOK_SECRET" \
  > >(sed -u 's/^/[downstream] /') &
pids+=($!)
# Without a broker, retries and anything left over are dispatched by this sweep.
.venv/bin/python manage.py deliveries_sweep --loop --interval 5 >/dev/null &
pids+=($!)
# In the background with a wait, so that a SIGTERM to this script runs cleanup at once.
.venv/bin/python manage.py runserver "$ADDRESS" &
pids+=($!)
wait "${pids[-1]}"
