"""Golden-file tests: each adapter's exact request for a set of statements.

Statements in (tests/adapters/golden/statements.py), request out
(tests/adapters/golden/<adapter>/<case>.json). ``translate`` is pure, so the
context (employee id, competencies, Slack user) is given as ``resolve`` would find it.
After an intended change: ``UPDATE_GOLDEN=1 pytest tests/adapters/test_golden.py`` and
review the diff of the JSON files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from adapters.base import DeliveryContext, OutboundRequest
from adapters.registry import adapter_class
from tests.adapters.golden.statements import CASES

GOLDEN = Path(__file__).parent / "golden"
EMPLOYEES = {"Ada Lovelace": "E100", "Team Ada": "E100", "Grace Hopper": "E200", "Zoë Ångström": "E300"}

CONFIGS: dict[str, dict[str, Any]] = {
    "pms": {
        "base_url": "https://pms.example.com",
        "token_url": "https://pms.example.com/oauth/token",
        "client_id": "lrs",
    },
    "marketplace": {
        "base_url": "https://market.example.com",
        "token_url": "https://market.example.com/oauth/token",
        "client_id": "lrs",
    },
    "slack": {
        "mode": "bot",
        "default_channel": "#learning",
        "channels_by_prefix": [{"prefix": "https://lms.example.com/courses/safety", "channel": "#safety"}],
    },
    "slack-scores": {"mode": "bot", "default_channel": "#learning", "include_score": True},
    "msteams": {"mode": "activity_feed", "tenant_id": "contoso", "client_id": "app"},
    "msteams-channel": {
        "mode": "channel_message",
        "tenant_id": "contoso",
        "client_id": "app",
        "team_id": "team-1",
        "channel_id": "19:abc@thread.tacv2",
    },
}
SECRETS = {"client_secret": "s", "bot_token": "xoxb-test", "refresh_token": "r"}


def resolved_for(adapter: str, statement: dict) -> dict[str, Any]:
    employee = EMPLOYEES.get(statement["actor"].get("name", ""), "E100")
    if adapter == "pms":
        return {"employee_id": employee}
    if adapter == "msteams":
        return {
            "recipient": {"E100": "ada@example.com", "E200": "grace@example.com"}.get(
                employee, "zoe@example.com"
            )
        }
    if adapter == "marketplace":
        obj = statement["object"]
        activity = obj["object"]["id"] if obj.get("objectType") == "SubStatement" else obj["id"]
        return {
            "employee_id": employee,
            "email": {"E200": "grace.hopper@example.com"}.get(employee),
            "awards": [
                {
                    "code": "SAFETY-BASICS",
                    "level": 3,
                    "evidence": {"statementId": statement["id"], "activityId": activity},
                    "mappingVersion": "2026.1",
                }
            ],
        }
    return {}


def request_json(request: OutboundRequest | list[OutboundRequest]) -> Any:
    requests = request if isinstance(request, list) else [request]
    return [
        {
            "method": r.method,
            "url": r.url,
            "headers": dict(sorted(r.headers.items())),
            "json": r.json,
            "body": r.body.decode() if r.body else None,
        }
        for r in requests
    ]


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("target", sorted(CONFIGS))
def test_translation_matches_the_golden_file(target: str, case: str) -> None:
    adapter_name = target.split("-")[0]
    statement = CASES[case]
    adapter = adapter_class(adapter_name)(CONFIGS[target], SECRETS)
    context = DeliveryContext(
        target_name=target,
        kind="deliver",
        idempotency_key=f"{statement['id']}:{target}:deliver",
        resolved=resolved_for(adapter_name, statement),
    )
    produced = request_json(adapter.translate(statement, context))
    path = GOLDEN / target / f"{case}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(produced, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    expected = json.loads(path.read_text())
    assert produced == expected
