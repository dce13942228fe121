"""Golden-file tests: each adapter's exact request for a set of statements.

Statements in (tests/adapters/golden/statements.py), request out
(tests/adapters/golden/<adapter>/<case>.json). Each statement is stored, then ``resolve`` looks
up what it needs for real (identity links, the competency mapping, the marketplace's evidence) and
``translate`` builds the request; no resolved field is injected.
After an intended change: ``UPDATE_GOLDEN=1 pytest tests/adapters/test_golden.py`` and
review the diff of the JSON files.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import responses

from adapters.base import DeliveryContext, NothingToSend, OutboundRequest
from adapters.identity.links import Identifiers, identity_links_upsert
from adapters.models import CompetencyMapping, Target
from adapters.registry import adapter_class
from lrs.statements.models import Statement
from lrs.statements.selectors import statements_keyed_by_pk
from lrs.statements.store import statement_store
from tests.adapters.golden.statements import CASES, COURSE, QUIZ

GOLDEN = Path(__file__).parent / "golden"
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
# What Slack's conversations.list answers a bot target's resolve (a routed name to the channel id
# it posts into: adapters/slack/channels.py).
SLACK_CHANNELS = {
    "ok": True,
    "channels": [{"id": "C0LEARNING1", "name": "learning"}, {"id": "C0SAFETY01", "name": "safety"}],
}
LEVELS = {"thresholds": [[90, 5], [75, 4], [50, 3], [0, 2]], "no_score": 3}


@pytest.fixture
def directory(db) -> None:
    """The HRIS links the golden learners have, and the active competency mapping: resolution is
    the real one (identity links and mapping in the database), nothing is injected."""
    links = {
        "E100": Identifiers(emails=["ada@example.com", "team-ada@example.com"]),
        "E200": Identifiers(
            emails=["grace.hopper@example.com"],
            accounts=[{"homePage": "https://hr.example.com", "name": "E200"}],
        ),
        "E300": Identifiers(emails=["zoe@example.com"]),
    }
    for employee_id, identifiers in links.items():
        identity_links_upsert(employee_id=employee_id, identifiers=identifiers)
    CompetencyMapping.objects.create(
        version="2026.1",
        is_active=True,
        rules=[
            {"activity_id": COURSE, "codes": ["SAFETY-BASICS"], "level": LEVELS},
            {"activity_id": QUIZ, "codes": ["SAFETY-QUIZ"], "level": LEVELS, "award_on_failure": True},
        ],
    )


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
def test_translation_matches_the_golden_file(target: str, case: str, directory) -> None:
    adapter_name = target.split("-")[0]
    row = Target.objects.create(name=target, adapter=adapter_name, config=CONFIGS[target])
    [statement_id] = statement_store(statements=[CASES[case]], credential=None)
    [(statement_pk, statement)] = statements_keyed_by_pk(
        Statement.objects.filter(statement_id=statement_id).values_list("id", flat=True)
    ).items()
    adapter = adapter_class(adapter_name)(CONFIGS[target], SECRETS)
    context = DeliveryContext(
        target_name=target,
        kind="deliver",
        idempotency_key=f"{statement['id']}:{target}:deliver",
        target_id=row.id,
        statement_pk=statement_pk,
    )
    try:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as slack:
            slack.get("https://slack.com/api/conversations.list", json=SLACK_CHANNELS)
            context = replace(context, resolved=adapter.resolve(statement, context))
        produced = request_json(adapter.translate(statement, context))
    except NothingToSend:  # the right effect is no request (a private outcome, no competency)
        produced = []
    path = GOLDEN / target / f"{case}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(produced, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    expected = json.loads(path.read_text())
    assert produced == expected
