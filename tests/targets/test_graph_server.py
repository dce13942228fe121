"""Self-tests of the fake Microsoft identity platform + Graph (Teams)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
import requests

from tests.targets.fake_base import retry_after, status
from tests.targets.graph_contract import MESSAGE_SIZE_LIMIT
from tests.targets.graph_server import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_USER,
    GRAPH_DEFAULT_SCOPE,
    GraphServer,
)

TEAM, CHANNEL = "team-1", "19:abc@thread.tacv2"
CARD = {"type": "AdaptiveCard", "version": "1.4", "body": [{"type": "TextBlock", "text": "Safety 101 done"}]}


def credentials(**overrides: str | None) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
        "scope": GRAPH_DEFAULT_SCOPE,
        **overrides,
    }
    return {k: v for k, v in form.items() if v is not None}


def app_token(server: GraphServer) -> str:
    response = requests.post(server.token_url, data=credentials(), timeout=5)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def refresh(
    server: GraphServer,
    refresh_token: str,
    scope: str = "ChannelMessage.Send offline_access",
    **overrides: str,
) -> requests.Response:
    form = credentials(grant_type="refresh_token", refresh_token=refresh_token, scope=scope, **overrides)
    return requests.post(server.token_url, data=form, timeout=5)


def user_token(server: GraphServer) -> str:
    return refresh(server, server.issue_refresh_token()).json()["access_token"]


def activity(**overrides: Any) -> dict[str, Any]:
    body = {
        "topic": {
            "source": "text",
            "value": "Safety 101",
            "webUrl": "https://lms.example.com/courses/safety-101",
        },
        "activityType": "courseCompleted",
        "previewText": {"content": "Ada completed Safety 101"},
        "templateParameters": [{"name": "courseName", "value": "Safety 101"}],
        **overrides,
    }
    return {k: v for k, v in body.items() if v is not ...}


def notify(
    server: GraphServer,
    body: Any = None,
    token: str | None = None,
    user: str = DEFAULT_USER,
    timeout: float = 5,
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token or app_token(server)}"}
    url = f"{server.graph_url}/users/{user}/teamwork/sendActivityNotification"
    return requests.post(url, json=activity() if body is None else body, headers=headers, timeout=timeout)


def post_message(
    server: GraphServer, body: Any = None, token: str | None = None, team: str = TEAM, channel: str = CHANNEL
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token or user_token(server)}"}
    url = f"{server.graph_url}/teams/{team}/channels/{channel}/messages"
    body = {"body": {"contentType": "text", "content": "Ada completed Safety 101"}} if body is None else body
    return requests.post(url, json=body, headers=headers, timeout=5)


def card_message(**attachment: Any) -> dict[str, Any]:
    return {
        "body": {"contentType": "html", "content": '<attachment id="card-1"></attachment>'},
        "attachments": [
            {
                "id": "card-1",
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": json.dumps(CARD),
                **attachment,
            }
        ],
    }


def test_client_credentials_give_an_app_token(graph_server: GraphServer) -> None:
    form = requests.post(graph_server.token_url, data=credentials(), timeout=5)
    basic = requests.post(
        graph_server.token_url,
        data=credentials(client_id=None, client_secret=None),
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        timeout=5,
    )
    for response in (form, basic):
        payload = response.json()
        assert response.status_code == 200 and payload["token_type"] == "Bearer"
        assert payload["expires_in"] == payload["ext_expires_in"] == 3599 and "refresh_token" not in payload
    assert [t.kind for t in graph_server.tokens] == ["app", "app"]


@pytest.mark.parametrize(
    ("form", "code", "error", "aadsts"),
    [
        (credentials(client_secret="wrong"), 401, "invalid_client", 7000215),
        (credentials(client_id="someone-else"), 400, "unauthorized_client", 700016),
        (credentials(scope="https://graph.microsoft.com/User.Read"), 400, "invalid_scope", 1002012),
        (credentials(scope="https://other.example.com/.default"), 400, "invalid_resource", 500011),
        (credentials(scope=None), 400, "invalid_request", 900144),
        (credentials(grant_type=None), 400, "invalid_request", 900144),
        (credentials(grant_type="password"), 400, "unsupported_grant_type", 70003),
        (credentials(client_secret=None), 400, "invalid_request", 900144),
    ],
)
def test_token_endpoint_errors_look_like_the_identity_platform(
    graph_server: GraphServer, form: dict[str, str], code: int, error: str, aadsts: int
) -> None:
    response = requests.post(graph_server.token_url, data=form, timeout=5)
    payload = response.json()
    assert (response.status_code, payload["error"], payload["error_codes"]) == (code, error, [aadsts])
    assert payload["error_description"].startswith(f"AADSTS{aadsts}: ") and payload["trace_id"]
    assert graph_server.tokens == []


def test_token_endpoint_checks_tenant_and_encoding(graph_server: GraphServer) -> None:
    wrong_tenant = requests.post(
        graph_server.token_url.replace(graph_server.tenant_id, "other"), data=credentials(), timeout=5
    )
    assert wrong_tenant.status_code == 400 and wrong_tenant.json()["error_codes"] == [90002]
    as_json = requests.post(graph_server.token_url, json=credentials(), timeout=5)
    assert as_json.status_code == 400 and "x-www-form-urlencoded" in as_json.json()["error_description"]


def test_refresh_token_grant_gives_a_delegated_token_and_a_new_refresh_token(
    graph_server: GraphServer,
) -> None:
    refresh_token = graph_server.issue_refresh_token(user="ada@example.com")
    response = refresh(graph_server, refresh_token)
    payload = response.json()
    assert response.status_code == 200 and payload["refresh_token"] not in ("", refresh_token)
    assert payload["scope"] == "https://graph.microsoft.com/ChannelMessage.Send offline_access"
    (token,) = graph_server.tokens
    assert (token.kind, token.subject, token.value) == (
        "delegated",
        "ada@example.com",
        payload["access_token"],
    )
    assert refresh(graph_server, payload["refresh_token"]).status_code == 200
    assert refresh(graph_server, refresh_token).status_code == 200  # old refresh tokens stay valid
    wider = refresh(graph_server, refresh_token, scope="Mail.Send")
    assert (wider.status_code, wider.json()["error"]) == (400, "invalid_scope")
    assert refresh(graph_server, "garbage").json()["error_codes"] == [9002313]
    graph_server.revoke_refresh_tokens()
    revoked = refresh(graph_server, refresh_token)
    assert (revoked.json()["error"], revoked.json()["error_codes"]) == ("invalid_grant", [700082])
    assert refresh(graph_server, refresh_token, client_secret="wrong").status_code == 401


def test_activity_notification_with_an_app_token(graph_server: GraphServer) -> None:
    response = notify(graph_server, activity(chainId=7))
    assert response.status_code == 204 and response.content == b""
    entity = activity(
        topic={"source": "entityUrl", "value": f"https://graph.microsoft.com/v1.0/users/{DEFAULT_USER}"},
        activityType="systemDefault",
        templateParameters=[{"name": "systemDefaultText", "value": "Course completed"}],
    )
    assert notify(graph_server, entity).status_code == 204
    assert [n["user"] for n in graph_server.notifications()] == [DEFAULT_USER, DEFAULT_USER]
    assert graph_server.effects() == {
        f"{DEFAULT_USER}|courseCompleted|Ada completed Safety 101": 1,
        f"{DEFAULT_USER}|systemDefault|Ada completed Safety 101": 1,
    }


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (activity(topic=...), "'topic' is a required property"),
        (activity(topic={"source": "url", "value": "x"}), "body.topic.source: 'url' is not one of"),
        (activity(topic={"source": "text", "value": "x"}), "'webUrl' is a required property"),
        (activity(topic={"source": "entityUrl", "value": "https://lms.example.com/x"}), "body.topic.value"),
        (activity(previewText="Ada completed"), "body.previewText: 'Ada completed' is not of type 'object'"),
        (activity(templateParameters=[{"name": "courseName"}]), "'value' is a required property"),
        (activity(activityType="systemDefault"), "body.templateParameters"),
        (activity(activityType=...), "'activityType' is a required property"),
        (activity(recipient={"userId": "x"}), "('recipient' was unexpected)"),
    ],
)
def test_activity_shape_violations_are_400_bad_request(
    graph_server: GraphServer, body: Any, reason: str
) -> None:
    response = notify(graph_server, body)
    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (400, "BadRequest") and reason in error["message"]
    assert error["innerError"]["request-id"] and graph_server.notifications() == []


def test_tokens_of_the_wrong_kind_or_expired_get_graph_errors(graph_server: GraphServer) -> None:
    delegated = notify(graph_server, token=user_token(graph_server))
    assert (delegated.status_code, delegated.json()["error"]["code"]) == (403, "Forbidden")
    app = post_message(graph_server, token=app_token(graph_server))
    assert (app.status_code, app.json()["error"]["code"]) == (401, "Unauthorized")
    assert "application-only context only for import" in app.json()["error"]["message"]
    token = app_token(graph_server)
    graph_server.expire_tokens()
    expired = notify(graph_server, token=token)
    assert (expired.status_code, expired.json()["error"]["code"]) == (401, "InvalidAuthenticationToken")
    assert "expired" in expired.json()["error"]["message"] and expired.headers["WWW-Authenticate"]
    missing = requests.post(
        f"{graph_server.graph_url}/users/u/teamwork/sendActivityNotification", json=activity(), timeout=5
    )
    assert missing.json()["error"]["message"] == "Access token is empty."
    unscoped = graph_server.issue_token("delegated", scope="User.Read")
    assert post_message(graph_server, token=unscoped).status_code == 403


def test_channel_message_with_a_delegated_token(graph_server: GraphServer) -> None:
    response = post_message(graph_server)
    payload = response.json()
    assert response.status_code == 201 and payload["id"] and payload["from"]["user"]["id"] == DEFAULT_USER
    assert payload["body"] == {"contentType": "text", "content": "Ada completed Safety 101"}
    assert post_message(graph_server, card_message()).status_code == 201
    assert [m["id"] for m in graph_server.channel_messages()] == [
        payload["id"],
        graph_server.channel_messages()[1]["id"],
    ]
    assert len(graph_server.effects()) == 2


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({}, "'body' is a required property"),
        ({"body": {"contentType": "markdown", "content": "x"}}, "'markdown' is not one of"),
        ({"body": {"content": ""}}, "body.body.content"),
        ({"text": "x", "body": {"content": "x"}}, "('text' was unexpected)"),
        (
            {
                **card_message(),
                "body": {"contentType": "text", "content": '<attachment id="card-1"></attachment>'},
            },
            "contentType must be html",
        ),
        (
            {**card_message(), "body": {"contentType": "html", "content": "no reference"}},
            'reference attachment card-1 as <attachment id="card-1"></attachment>',
        ),
        (card_message(content=CARD), "body.attachments[0].content: {'type': 'AdaptiveCard'"),
        (card_message(content="{nope"), "is not valid JSON"),
        (
            card_message(content=json.dumps({**CARD, "type": "HeroCard"})),
            "content.type: 'AdaptiveCard' was expected",
        ),
        (card_message(content=json.dumps({"type": "AdaptiveCard"})), "'version' is a required property"),
    ],
)
def test_channel_message_shape_violations(graph_server: GraphServer, body: Any, reason: str) -> None:
    response = post_message(graph_server, body)
    assert response.status_code == 400 and reason in response.json()["error"]["message"], response.text
    assert graph_server.channel_messages() == []


def test_a_channel_message_over_the_teams_size_limit_is_refused_413(graph_server: GraphServer) -> None:
    """Teams refuses a message above about 28 KB (HTML included): "Request Entity too large"."""
    token = user_token(graph_server)
    fits = "é" * (MESSAGE_SIZE_LIMIT // 2)  # two bytes each in UTF-8
    assert post_message(graph_server, {"body": {"content": fits}}, token).status_code == 201
    refused = post_message(graph_server, {"body": {"content": fits + "é"}}, token)
    assert (refused.status_code, refused.json()["error"]["code"]) == (413, "RequestEntityTooLarge")
    assert len(graph_server.channel_messages()) == 1


def test_unknown_users_and_channels_when_configured() -> None:
    with GraphServer(users={"known"}, channels={(TEAM, CHANNEL)}) as server:
        assert notify(server, user="known").status_code == 204
        unknown = notify(server, user="stranger")
        assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "Request_ResourceNotFound")
        assert post_message(server).status_code == 201
        assert post_message(server, channel="19:other").status_code == 404
        server.add_channel(TEAM, "19:other")
        assert post_message(server, channel="19:other").status_code == 201


def test_throttling_and_token_endpoint_behaviours(graph_server: GraphServer) -> None:
    token = app_token(graph_server)
    graph_server.enqueue(retry_after(5), status(503))
    throttled = notify(graph_server, token=token)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "5"
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    assert notify(graph_server, token=token).json()["error"]["code"] == "ServiceUnavailable"
    assert notify(graph_server, token=token).status_code == 204
    graph_server.enqueue_token(retry_after(2, 503))
    busy = requests.post(graph_server.token_url, data=credentials(), timeout=5)
    assert busy.status_code == 503 and busy.json()["error"] == "temporarily_unavailable"
    assert app_token(graph_server)


def test_unknown_routes(graph_server: GraphServer) -> None:
    assert requests.get(f"{graph_server.graph_url}/me", timeout=5).json()["error"]["code"] == "NotFound"
    wrong_method = requests.get(f"{graph_server.graph_url}/teams/t/channels/c/messages", timeout=5)
    assert wrong_method.status_code == 405


def test_path_ids_are_url_decoded() -> None:
    upn, channel = "ada+x@example.com", "19:abc@thread.tacv2"
    with GraphServer(users={upn}, channels={(TEAM, channel)}) as server:
        assert notify(server, user=quote(upn, safe="@")).status_code == 204
        assert post_message(server, channel=quote(channel, safe="")).status_code == 201
        assert server.notifications()[0]["user"] == upn
        assert server.channel_messages()[0]["channel"] == channel
