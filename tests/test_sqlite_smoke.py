"""The quickstart's database: store and query statements on SQLite (a fresh file, real migrations)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import django, json
django.setup()
from django.test import Client
from lrs.credentials.services import credential_upsert
credential_upsert(name="smoke", scopes=["all"], key="smoke", secret="smoke-secret")
import os
os.environ["SMOKE_HOOK_SECRET"] = "smoke-hook-secret"
from adapters.models import Delivery, Target
# A target on a refusing port: the quickstart runs deliveries in-process, off the request.
Target.objects.create(name="hook", adapter="webhook",
                      config={"url": "http://127.0.0.1:9/hook", "secret": {"env": "SMOKE_HOOK_SECRET"}})
import base64
auth = "Basic " + base64.b64encode(b"smoke:smoke-secret").decode()
headers = {"Authorization": auth, "X-Experience-API-Version": "1.0.3"}
client = Client()
def st(verb):
    return {"actor": {"mbox": "mailto:a@example.com"}, "verb": {"id": verb},
            "object": {"id": "http://example.com/a"}}
batch = [st("http://adlnet.gov/expapi/verbs/completed"), st("http://adlnet.gov/expapi/verbs/passed")]
r = client.post("/xapi/statements", json.dumps(batch), content_type="application/json", headers=headers)
assert r.status_code == 200, r.content
ids = r.json()
# The quickstart delivers on a background thread (no broker): wait for it to finish.
from adapters.delivery.outbox import flush_in_process
assert flush_in_process(timeout=30)
deliveries = Delivery.objects.order_by("statement_id")
assert [str(d.statement_uuid) for d in deliveries] == ids, list(deliveries.values())
assert all(d.idempotency_key == f"{d.statement_uuid}:hook:deliver" and d.attempts == 1 for d in deliveries)
r = client.get("/xapi/statements", {"verb": "http://adlnet.gov/expapi/verbs/passed",
               "agent": json.dumps({"mbox": "mailto:a@example.com"})}, headers=headers)
assert r.status_code == 200, r.content
count = len(r.json()["statements"])
# A voiding statement before its target (Data 2.3.2): the target is stored voided.
late = dict(st("http://adlnet.gov/expapi/verbs/completed"), id="3e0c2b1a-9d8f-4e7a-8b6c-5d4e3f2a1b0c")
void = {"actor": {"mbox": "mailto:a@example.com"}, "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
        "object": {"objectType": "StatementRef", "id": late["id"]}}
for body in (void, late):
    r = client.post("/xapi/statements", json.dumps(body), content_type="application/json", headers=headers)
    assert r.status_code == 200, r.content
assert client.get("/xapi/statements", {"statementId": late["id"]}, headers=headers).status_code == 404
assert client.get("/xapi/statements", {"voidedStatementId": late["id"]}, headers=headers).status_code == 200
assert flush_in_process(timeout=30)
print(count)
"""


@pytest.mark.sqlite
def test_store_fan_out_and_filtered_query_work_on_sqlite(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env.update(
        LRS_ENV="development",
        DATABASE_URL=f"sqlite:///{tmp_path / 'lrs.sqlite3'}",
        DJANGO_SETTINGS_MODULE="config.settings",
        # Retries far off: a full-jitter backoff can come due within milliseconds, and the
        # in-process drain would then make a second attempt before the script counts them.
        LRS_RETRY_BASE_SECONDS="600",
    )
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert migrate.returncode == 0, migrate.stderr
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"
