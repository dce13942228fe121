"""Self-tests of the fake skills marketplace."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from tests.targets.fake_base import hang, refuse, retry_after, status
from tests.targets.marketplace_server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, MarketplaceServer

AUTH = (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
STATEMENT_ID = "5f1c7d8e-0000-4000-8000-000000000001"


def skill(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "memberId": "M-42",
        "email": "learner@example.com",
        "competencyCode": "FIRST-AID",
        "level": 3,
        "learningCompleted": {"completed": True, "date": "2024-05-01"},
        "score": 92,
        "evidence": [{"statementId": STATEMENT_ID, "activityId": "http://example.com/courses/first-aid"}],
        "badges": ["first-aider"],
        "certificates": [],
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def get_token(server: MarketplaceServer) -> str:
    response = requests.post(
        server.token_url, data={"grant_type": "client_credentials"}, auth=AUTH, timeout=5
    )
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"
    return response.json()["access_token"]


def put_skill(
    server: MarketplaceServer,
    body: Any = None,
    *,
    member: str = "M-42",
    code: str = "FIRST-AID",
    key: str | None = None,
    token: str | None = None,
    headers: dict[str, str | None] | None = None,
    timeout: float = 5,
) -> requests.Response:
    sent: dict[str, str | None] = {
        "Authorization": f"Bearer {token or get_token(server)}",
        "Idempotency-Key": key or str(uuid.uuid4()),
        **(headers or {}),
    }
    return requests.put(
        server.skill_url(member, code),
        json=skill() if body is None else body,
        timeout=timeout,
        headers={k: v for k, v in sent.items() if v is not None},
    )


def revoke(
    server: MarketplaceServer,
    member: str = "M-42",
    code: str = "FIRST-AID",
    token: str | None = None,
    key: str | None = None,
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token or get_token(server)}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return requests.delete(server.skill_url(member, code), headers=headers, timeout=5)


def test_put_creates_then_updates_a_skill(marketplace_server: MarketplaceServer) -> None:
    token = get_token(marketplace_server)
    created = put_skill(marketplace_server, key="k-1", token=token)
    assert created.status_code == 201
    assert created.json()["level"] == 3 and created.json()["updatedAt"].endswith("Z")
    minimal = skill(badges=..., certificates=..., score=None, level=4)
    updated = put_skill(marketplace_server, minimal, key="k-2", token=token)
    assert updated.status_code == 200
    assert marketplace_server.skills() == {("M-42", "FIRST-AID"): minimal}
    assert marketplace_server.effects() == {"k-1": 1, "k-2": 1}
    assert [r.route for r in marketplace_server.requests] == ["token", "skills.put", "skills.put"]


def test_path_segments_are_url_decoded(marketplace_server: MarketplaceServer) -> None:
    body = skill(memberId="M/42 x", competencyCode="ISO 9001:2015")
    assert put_skill(marketplace_server, body, member="M/42 x", code="ISO 9001:2015").status_code == 201
    assert ("M/42 x", "ISO 9001:2015") in marketplace_server.skills()


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        (skill(level=0), {}, "body.level: 0 is less than the minimum of 1"),
        (skill(level=6), {}, "body.level: 6 is greater than the maximum of 5"),
        (skill(level="3"), {}, "body.level: '3' is not of type 'integer'"),
        (skill(level=2.5), {}, "body.level: 2.5 is not of type 'integer'"),
        (skill(score=100.5), {}, "body.score: 100.5 is greater than the maximum of 100"),
        (skill(email="not-an-email"), {}, "body.email: 'not-an-email' does not match"),
        (
            skill(learningCompleted={"completed": True, "date": "2024-05-01T00:00:00Z"}),
            {},
            "body.learningCompleted.date: '2024-05-01T00:00:00Z' is not a 'date'",
        ),
        (
            skill(learningCompleted={"completed": "yes", "date": "2024-05-01"}),
            {},
            "body.learningCompleted.completed: 'yes' is not of type 'boolean'",
        ),
        (skill(learningCompleted={"date": "2024-05-01"}), {}, "'completed' is a required property"),
        (skill(evidence=[]), {}, "body.evidence: [] should be non-empty"),
        (skill(evidence=[{"statementId": "nope", "activityId": "x"}]), {}, "body.evidence[0].statementId"),
        (skill(evidence=[{"statementId": STATEMENT_ID}]), {}, "'activityId' is a required property"),
        (skill(badges="first-aider"), {}, "body.badges: 'first-aider' is not of type 'array'"),
        (skill(certificates=[1]), {}, "body.certificates[0]: 1 is not of type 'string'"),
        (skill(extra=True), {}, "('extra' was unexpected)"),
        (skill(memberId="M-43"), {}, "body.memberId 'M-43' differs from the path's 'M-42'"),
        (skill(competencyCode="CPR"), {}, "body.competencyCode 'CPR' differs from the path's 'FIRST-AID'"),
        (skill(), {"Idempotency-Key": None}, "missing Idempotency-Key"),
        (skill(), {"Idempotency-Key": "x" * 256}, "at most 255"),
    ],
)
def test_refuses_wrong_shapes_with_400_and_the_reason(
    marketplace_server: MarketplaceServer, body: Any, headers: dict[str, str | None], reason: str
) -> None:
    response = put_skill(marketplace_server, body, headers=headers)
    assert response.status_code == 400, response.text
    assert reason in response.json()["error_description"]
    assert marketplace_server.effects() == {} and marketplace_server.skills() == {}


def test_tokens_are_required_and_expire(marketplace_server: MarketplaceServer) -> None:
    token = get_token(marketplace_server)
    assert put_skill(marketplace_server, token=token).status_code == 201
    marketplace_server.expire_tokens()
    expired = put_skill(marketplace_server, token=token)
    assert expired.status_code == 401 and expired.json()["error"] == "invalid_token"
    assert revoke(marketplace_server, token=token).status_code == 401
    missing = requests.put(
        marketplace_server.skill_url("M-42", "FIRST-AID"),
        json=skill(),
        timeout=5,
        headers={"Idempotency-Key": "k"},
    )
    assert missing.status_code == 401
    assert put_skill(marketplace_server).status_code == 200  # a new token works


def test_a_repeated_key_replays_the_first_answer(marketplace_server: MarketplaceServer) -> None:
    token = get_token(marketplace_server)
    first = put_skill(marketplace_server, key="k", token=token)
    again = put_skill(marketplace_server, key="k", token=token)
    assert (first.status_code, again.status_code) == (201, 201) and first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert put_skill(marketplace_server, skill(level=5), key="k", token=token).status_code == 422
    assert marketplace_server.effects() == {"k": 1}
    assert marketplace_server.skills()[("M-42", "FIRST-AID")]["level"] == 3


def test_delete_revokes_idempotently(marketplace_server: MarketplaceServer) -> None:
    token = get_token(marketplace_server)
    put_skill(marketplace_server, token=token)
    assert revoke(marketplace_server, token=token).status_code == 204
    assert revoke(marketplace_server, token=token).status_code == 204
    assert marketplace_server.revocations() == [("M-42", "FIRST-AID")] and marketplace_server.skills() == {}
    assert revoke(marketplace_server, code="NEVER", token=token).status_code == 404
    assert put_skill(marketplace_server, token=token).status_code == 201  # granted again after revocation


def test_a_keyed_delete_shares_the_key_store_with_the_puts_across_paths(
    marketplace_server: MarketplaceServer,
) -> None:
    token = get_token(marketplace_server)
    for member in ("M-1", "M-2"):
        put_skill(marketplace_server, skill(memberId=member), member=member, token=token)
    first = revoke(marketplace_server, member="M-1", token=token, key="d-1")
    again = revoke(marketplace_server, member="M-1", token=token, key="d-1")
    assert (first.status_code, again.status_code) == (204, 204)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert revoke(marketplace_server, member="M-2", token=token, key="d-1").status_code == 422
    assert marketplace_server.revocations() == [("M-1", "FIRST-AID")]
    assert list(marketplace_server.skills()) == [("M-2", "FIRST-AID")]


def test_unknown_paths_and_methods(marketplace_server: MarketplaceServer) -> None:
    assert requests.post(marketplace_server.skill_url("M", "C"), timeout=5).status_code == 405
    assert requests.get(f"{marketplace_server.url}/api/v1/members/M", timeout=5).status_code == 404


def test_behaviours_and_restart(marketplace_server: MarketplaceServer) -> None:
    token = get_token(marketplace_server)
    marketplace_server.enqueue(retry_after(3), status(500), hang(0.5), refuse())
    throttled = put_skill(marketplace_server, key="k", token=token)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "3"
    assert put_skill(marketplace_server, key="k", token=token).status_code == 500
    with pytest.raises(requests.Timeout):
        put_skill(marketplace_server, key="k", token=token, timeout=0.1)
    assert marketplace_server.wait_for(lambda s: s.effects() == {"k": 1})
    with pytest.raises(requests.ConnectionError):
        put_skill(marketplace_server, key="k2", token=token)
    port = marketplace_server.port
    marketplace_server.start()
    assert marketplace_server.port == port
    assert put_skill(marketplace_server, key="k", token=token).headers["Idempotent-Replayed"] == "true"
    assert marketplace_server.effects() == {"k": 1}
