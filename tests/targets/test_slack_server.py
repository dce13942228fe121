"""Self-tests of the fake Slack (Web API + incoming webhooks)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests

from tests.targets.fake_base import hang, retry_after, status
from tests.targets.slack_server import DEFAULT_BOT_TOKEN, SlackServer, slack_error

SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "*Safety 101* completed"}}


def call(
    server: SlackServer,
    method: str,
    body: Any,
    token: str | None = DEFAULT_BOT_TOKEN,
    content_type: str = "application/json; charset=utf-8",
    timeout: float = 5,
) -> requests.Response:
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(f"{server.api_url}/{method}", data=data, headers=headers, timeout=timeout)


def post_message(server: SlackServer, **overrides: Any) -> requests.Response:
    body = {"channel": "C0000000001", "text": "Ada completed Safety 101", **overrides}
    return call(server, "chat.postMessage", {k: v for k, v in body.items() if v is not ...})


def test_post_message_to_a_channel_by_id_or_name(slack_server: SlackServer) -> None:
    by_id = post_message(slack_server, blocks=[SECTION, {"type": "divider"}])
    by_name = post_message(slack_server, channel="#learning")
    assert by_id.status_code == by_name.status_code == 200
    assert by_id.json()["ok"] is True and by_id.json()["channel"] == "C0000000001"
    assert by_id.json()["message"]["blocks"][0] == SECTION and by_id.json()["ts"] != by_name.json()["ts"]
    assert by_name.json()["channel"] == "C0000000002" and "warning" not in by_name.json()
    assert [m["channel"] for m in slack_server.messages()] == ["C0000000001", "C0000000002"]
    assert slack_server.messages("#learning")[0]["text"] == "Ada completed Safety 101"
    assert slack_server.effects() == {
        "C0000000001|Ada completed Safety 101": 1,
        "C0000000002|Ada completed Safety 101": 1,
    }


def test_missing_charset_is_accepted_with_slacks_warning(slack_server: SlackServer) -> None:
    response = call(
        slack_server,
        "chat.postMessage",
        {"channel": "general", "text": "hi"},
        content_type="application/json",
    )
    assert response.json()["ok"] is True and response.json()["warning"] == "missing_charset"


@pytest.mark.parametrize(
    ("token", "error"),
    [(None, "not_authed"), ("xoxb-wrong", "invalid_auth")],
)
def test_bad_tokens_answer_200_with_an_error(
    slack_server: SlackServer, token: str | None, error: str
) -> None:
    response = call(slack_server, "chat.postMessage", {"channel": "general", "text": "hi"}, token=token)
    assert (response.status_code, response.json()) == (200, {"ok": False, "error": error})
    assert slack_server.messages() == []


def test_expired_tokens_get_invalid_auth_and_new_ones_work(slack_server: SlackServer) -> None:
    assert slack_server.expire_tokens() == 1 and slack_server.tokens == []
    assert post_message(slack_server).json() == {"ok": False, "error": "invalid_auth"}
    fresh = slack_server.issue_token()
    response = call(slack_server, "chat.postMessage", {"channel": "general", "text": "hi"}, token=fresh)
    assert response.json()["ok"] is True and slack_server.tokens == [fresh]


def test_channel_errors(slack_server: SlackServer) -> None:
    slack_server.add_channel("outside", "C0000000009", member=False)
    slack_server.add_channel("old", "C0000000010")
    slack_server.archive_channel("old")
    assert post_message(slack_server, channel="#nope").json() == {"ok": False, "error": "channel_not_found"}
    assert post_message(slack_server, channel="outside").json() == {"ok": False, "error": "not_in_channel"}
    assert post_message(slack_server, channel="C0000000010").json() == {"ok": False, "error": "is_archived"}
    slack_server.leave_channel("general")
    assert post_message(slack_server).json()["error"] == "not_in_channel"
    assert slack_server.effects() == {}


@pytest.mark.parametrize(
    ("overrides", "error", "reason"),
    [
        ({"text": ...}, "no_text", "text is required"),
        ({"text": ..., "blocks": [SECTION]}, "invalid_arguments", "'text' is a required property"),
        ({"channel": ...}, "invalid_arguments", "'channel' is a required property"),
        ({"chanel": "general"}, "invalid_arguments", "('chanel' was unexpected)"),
        ({"blocks": []}, "invalid_blocks", "body.blocks: [] should be non-empty"),
        ({"blocks": [{"text": "x"}]}, "invalid_blocks", "'type' is a required property"),
        ({"blocks": [{"type": "fancy"}]}, "invalid_blocks", "body.blocks[0].type: 'fancy' is not one of"),
        ({"blocks": [{"type": "section"}]}, "invalid_blocks", "body.blocks[0]"),
        (
            {"blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}]},
            "invalid_blocks",
            "body.blocks[0].text.type: 'plain_text' was expected",
        ),
        ({"blocks": [{"type": "divider"}] * 51}, "invalid_blocks", "is too long"),
        ({"blocks": "[]"}, "invalid_blocks", "is not of type 'array'"),
        # 1,501 emoji: 1,501 code points, 3,002 UTF-16 code units (how the fake counts: slack_contract).
        (
            {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "\U0001f600" * 1501}}]},
            "invalid_blocks",
            "body.blocks[0].text.text: 3002 UTF-16 code units, more than 3000",
        ),
        ({"text": "\U0001f600" * 20001}, "msg_too_long", "body.text: 40002 UTF-16 code units is too long"),
        ({"text": "x" * 40001}, "msg_too_long", "body.text: "),
    ],
)
def test_post_message_shape_violations_are_400_with_the_reason(
    slack_server: SlackServer, overrides: dict[str, Any], error: str, reason: str
) -> None:
    response = post_message(slack_server, **overrides)
    assert response.status_code == 400 and response.json()["ok"] is False
    assert response.json()["error"] == error
    assert reason in response.json()["response_metadata"]["messages"][0]
    assert slack_server.messages() == []


def test_post_message_must_be_json_and_post(slack_server: SlackServer) -> None:
    form = call(
        slack_server,
        "chat.postMessage",
        "channel=general&text=hi",
        content_type="application/x-www-form-urlencoded",
    )
    assert form.status_code == 400 and "as JSON" in form.json()["response_metadata"]["messages"][0]
    get = requests.get(
        f"{slack_server.api_url}/chat.postMessage",
        timeout=5,
        headers={"Authorization": f"Bearer {DEFAULT_BOT_TOKEN}"},
    )
    assert get.status_code == 400
    assert requests.post(f"{slack_server.api_url}/chat.nope", timeout=5).json()["error"] == "unknown_method"


def test_rate_limiting_is_http_429_with_retry_after(slack_server: SlackServer) -> None:
    slack_server.enqueue(retry_after(30), slack_error("internal_error"), status(503))
    limited = post_message(slack_server)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "30"
    assert limited.json() == {"ok": False, "error": "ratelimited"}
    assert post_message(slack_server).json() == {"ok": False, "error": "internal_error"}
    assert post_message(slack_server).status_code == 503
    assert post_message(slack_server).json()["ok"] is True
    assert len(slack_server.messages()) == 1


def test_users_lookup_by_email_via_get_or_form(slack_server: SlackServer) -> None:
    auth = {"Authorization": f"Bearer {DEFAULT_BOT_TOKEN}"}
    found = requests.get(
        f"{slack_server.api_url}/users.lookupByEmail",
        params={"email": "Learner@Example.com"},
        headers=auth,
        timeout=5,
    )
    assert found.json()["ok"] is True and found.json()["user"]["id"] == "U0000000001"
    form = requests.post(
        f"{slack_server.api_url}/users.lookupByEmail",
        data={"email": "nobody@example.com", "token": DEFAULT_BOT_TOKEN},
        timeout=5,
    )
    assert form.json() == {"ok": False, "error": "users_not_found"}
    user_id = slack_server.add_user("new@example.com")
    new = requests.get(
        f"{slack_server.api_url}/users.lookupByEmail",
        params={"email": "new@example.com"},
        headers=auth,
        timeout=5,
    )
    assert new.json()["user"]["id"] == user_id
    as_json = call(slack_server, "users.lookupByEmail", {"email": "learner@example.com"})
    assert (
        as_json.status_code == 400
        and "takes no JSON body" in as_json.json()["response_metadata"]["messages"][0]
    )
    missing = requests.get(f"{slack_server.api_url}/users.lookupByEmail", headers=auth, timeout=5)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_arguments"
    unauthenticated = requests.get(
        f"{slack_server.api_url}/users.lookupByEmail", timeout=5, params={"email": "learner@example.com"}
    )
    assert unauthenticated.json() == {"ok": False, "error": "not_authed"}


def test_conversations_open_gives_a_dm_channel_to_post_into(slack_server: SlackServer) -> None:
    opened = call(slack_server, "conversations.open", {"users": "U0000000001"})
    channel = opened.json()["channel"]["id"]
    assert opened.json()["ok"] is True and channel.startswith("D")
    again = call(slack_server, "conversations.open", {"users": "U0000000001"})
    assert again.json()["channel"]["id"] == channel and again.json()["already_open"] is True
    assert post_message(slack_server, channel=channel).json()["ok"] is True
    assert post_message(slack_server, channel="U0000000001").json()["channel"] == channel
    assert (
        call(slack_server, "conversations.open", {"users": "U0000009999"}).json()["error"] == "user_not_found"
    )
    bad = call(slack_server, "conversations.open", {"users": ["U0000000001"]})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_arguments"


def webhook(
    server: SlackServer,
    body: Any,
    url: str | None = None,
    timeout: float = 5,
    content_type: str = "application/json",
) -> requests.Response:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(
        url or server.webhook_url(), data=data, timeout=timeout, headers={"Content-Type": content_type}
    )


def test_incoming_webhook_answers_plain_ok(slack_server: SlackServer) -> None:
    response = webhook(slack_server, {"text": "Ada completed Safety 101", "blocks": [SECTION]})
    assert (response.status_code, response.text) == (200, "ok")
    assert response.headers["Content-Type"].startswith("text/html")
    form = webhook(
        slack_server, "payload=%7B%22text%22%3A%22hi%22%7D", content_type="application/x-www-form-urlencoded"
    )
    assert form.text == "ok"
    assert [m["via"] for m in slack_server.messages()] == ["webhook", "webhook"]
    assert slack_server.effects() == {"C0000000001|Ada completed Safety 101": 1, "C0000000001|hi": 1}


@pytest.mark.parametrize(
    ("body", "code", "text"),
    [
        (b"{not json", 400, "invalid_payload"),
        ({}, 400, "no_text"),
        ({"text": ""}, 400, "no_text"),
        ({"text": "x", "blocks": [{"type": "nope"}]}, 400, "invalid_blocks"),
        ({"text": "x", "icon": ":x:"}, 400, "invalid_payload"),
        ([{"text": "x"}], 400, "invalid_payload"),
    ],
)
def test_incoming_webhook_errors_are_plain_text(
    slack_server: SlackServer, body: Any, code: int, text: str
) -> None:
    response = webhook(slack_server, body)
    assert (response.status_code, response.text) == (code, text)
    assert response.headers["X-Fake-Reason"]
    assert slack_server.messages() == []


def test_incoming_webhook_gone_archived_and_throttled(slack_server: SlackServer) -> None:
    assert (
        webhook(slack_server, {"text": "x"}, url=f"{slack_server.url}/services/T0/B0/nope").text
        == "no_service"
    )
    other = slack_server.add_webhook("learning")
    slack_server.archive_channel("learning")
    archived = webhook(slack_server, {"text": "x"}, url=other)
    assert (archived.status_code, archived.text) == (410, "channel_is_archived")
    slack_server.enqueue(retry_after(1), hang(0.5))
    throttled = webhook(slack_server, {"text": "x"})
    assert (throttled.status_code, throttled.text, throttled.headers["Retry-After"]) == (
        429,
        "rate_limited",
        "1",
    )
    with pytest.raises(requests.Timeout):
        webhook(slack_server, {"text": "slow"}, timeout=0.1)
    assert slack_server.wait_for(lambda s: len(s.messages()) == 1)
    slack_server.revoke_webhook()
    gone = webhook(slack_server, {"text": "x"})
    assert (gone.status_code, gone.text) == (404, "no_service")


def read(server: SlackServer, method: str, **arguments: Any) -> dict[str, Any]:
    response = requests.get(
        f"{server.api_url}/{method}",
        params=arguments,
        headers={"Authorization": f"Bearer {DEFAULT_BOT_TOKEN}"},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_history_lists_newest_first_with_metadata_only_when_asked(slack_server: SlackServer) -> None:
    metadata = {"event_type": "lrs_learning_record", "event_payload": {"idempotency_key": "k-1"}}
    first = post_message(slack_server, text="one", metadata=metadata).json()["ts"]
    post_message(slack_server, text="two")
    post_message(slack_server, channel="#learning", text="elsewhere")
    plain = read(slack_server, "conversations.history", channel="C0000000001")
    assert [m["text"] for m in plain["messages"]] == ["two", "one"]
    assert all("metadata" not in m for m in plain["messages"])
    full = read(slack_server, "conversations.history", channel="C0000000001", include_all_metadata="true")
    assert full["messages"][1]["metadata"] == metadata and full["messages"][1]["ts"] == first
    page = read(slack_server, "conversations.history", channel="C0000000001", limit=1)
    assert page["has_more"] is True and page["response_metadata"]["next_cursor"]
    rest = read(
        slack_server,
        "conversations.history",
        channel="C0000000001",
        limit=1,
        cursor=page["response_metadata"]["next_cursor"],
    )
    assert [m["text"] for m in rest["messages"]] == ["one"] and rest["has_more"] is False
    later = read(slack_server, "conversations.history", channel="C0000000001", oldest=first)
    assert [m["text"] for m in later["messages"]] == ["two"]
    by_name = requests.get(  # conversations.history takes channel ids only
        f"{slack_server.api_url}/conversations.history",
        params={"channel": "#general"},
        headers={"Authorization": f"Bearer {DEFAULT_BOT_TOKEN}"},
        timeout=5,
    )
    assert by_name.status_code == 400 and by_name.json()["error"] == "invalid_arguments"


def test_history_reads_a_time_window_of_slacks_clock(slack_server: SlackServer) -> None:
    """``oldest``/``latest`` bound the messages by ``ts``, Slack's time of posting; ``inclusive``
    takes those at exactly either bound too. ``skew_clock`` sets Slack's clock apart from ours."""
    before = time.time()
    one = float(post_message(slack_server, text="one").json()["ts"])
    slack_server.skew_clock(600)  # ten minutes pass at Slack
    two = float(post_message(slack_server, text="two").json()["ts"])
    assert before <= one < before + 5 and two >= one + 600

    def texts(**window: Any) -> list[str]:
        found = read(slack_server, "conversations.history", channel="C0000000001", **window)
        return [m["text"] for m in found["messages"]]

    assert texts(oldest=f"{before - 1:.6f}", latest=f"{one + 60:.6f}") == ["one"]
    assert texts(oldest=f"{one:.6f}", latest=f"{two:.6f}") == []
    assert texts(oldest=f"{one:.6f}", latest=f"{two:.6f}", inclusive="true") == ["two", "one"]


def test_conversations_list_names_each_channel_id(slack_server: SlackServer) -> None:
    listed = read(slack_server, "conversations.list", types="public_channel,private_channel")
    assert {c["name"]: c["id"] for c in listed["channels"]} == {
        "general": "C0000000001",
        "learning": "C0000000002",
    }


def test_a_renamed_channel_keeps_its_id_and_history_and_frees_its_name(slack_server: SlackServer) -> None:
    """As in Slack, a channel's id outlives its name: posts by name go to the channel so named at
    that moment, and chat.postMessage answers the id it posted into."""
    first = post_message(slack_server, channel="#learning", text="before").json()
    assert first["channel"] == "C0000000002"
    assert slack_server.rename_channel("#learning", "learning-2025") == "C0000000002"
    gone = post_message(slack_server, channel="#learning").json()
    assert gone == {"ok": False, "error": "channel_not_found"}
    reused = slack_server.add_channel("#learning", "C0000000003")
    assert post_message(slack_server, channel="#learning", text="after").json()["channel"] == reused
    history = read(slack_server, "conversations.history", channel="C0000000002")
    assert [m["text"] for m in history["messages"]] == ["before"]
    listed = read(slack_server, "conversations.list")
    assert {c["name"]: c["id"] for c in listed["channels"]} == {
        "general": "C0000000001",
        "learning-2025": "C0000000002",
        "learning": "C0000000003",
    }


def test_conversations_list_leaves_archived_channels_out_only_when_asked(slack_server: SlackServer) -> None:
    slack_server.archive_channel("learning")
    listed = read(slack_server, "conversations.list")
    assert {c["name"]: c["is_archived"] for c in listed["channels"]} == {"general": False, "learning": True}
    current = read(slack_server, "conversations.list", exclude_archived="true")
    assert [c["name"] for c in current["channels"]] == ["general"]


def test_conversations_list_pages_by_cursor_and_may_give_fewer_than_the_limit(
    slack_server: SlackServer,
) -> None:
    for number in range(25):
        slack_server.add_channel(f"#team-{number:02d}")
    slack_server.list_at_most(10)
    names: list[str] = []
    pages = 0
    arguments = {"limit": "1000"}
    while True:
        page = read(slack_server, "conversations.list", **arguments)
        pages += 1
        assert len(page["channels"]) <= 10
        names += [channel["name"] for channel in page["channels"]]
        arguments["cursor"] = page["response_metadata"]["next_cursor"]
        if not arguments["cursor"]:
            break
    assert pages == 3
    assert names == ["general", "learning", *(f"team-{number:02d}" for number in range(25))]
