"""Fake Slack: Web API methods (``/api/<method>``) and incoming webhooks (``/services/...``).

Methods: ``chat.postMessage`` (with message ``metadata``), ``users.lookupByEmail``,
``conversations.open``, ``conversations.history`` (newest first; ``metadata`` only with
``include_all_metadata``; ``oldest``/``latest``/``inclusive``/``limit``/``cursor``; channel ids only;
``ts`` from Slack's clock, which ``skew_clock`` sets apart from this host's) and
``conversations.list`` (``types``, ``exclude_archived``, ``limit``, ``cursor``). Channels have
ids that outlive their names, as in Slack: ``rename_channel`` gives a channel a new name (its id,
members and history stay), after which its old name may be given to another channel; posting by
name finds the channel so named at that moment, and ``chat.postMessage`` answers the id it
posted into (https://api.slack.com/methods/chat.postMessage, "channel" in the response).
Answers as Slack does: Web API results are HTTP 200
``{"ok": true, ...}`` or
``{"ok": false, "error": ...}`` (``not_authed``, ``invalid_auth``, ``channel_not_found``,
``not_in_channel``, ``is_archived``, ``users_not_found``, ``user_not_found``), except rate
limiting, which is HTTP 429 + ``Retry-After`` + ``{"ok": false, "error": "ratelimited"}``.
Incoming webhooks answer plain-text ``ok``, or 400 ``invalid_payload``/``no_text``/
``invalid_blocks``, 404 ``no_service`` (unknown or revoked URL), 410 ``channel_is_archived``.
Contract violations of the Web API are answered HTTP 400 (real Slack says 200
``invalid_arguments``) so that a shape bug can never pass for a delivery.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from typing import Any

from tests.targets.behaviours import hang, ok, refuse, retry_after, status
from tests.targets.fake_base import (
    ContractError,
    FakeRequest,
    FakeServer,
    Outcome,
    Reply,
    answer,
    json_reply,
    perform,
    text_reply,
)
from tests.targets.slack_contract import (
    check_history,
    check_list,
    check_open,
    check_post_message,
    check_webhook,
    slack_error,
)

__all__ = [
    "DEFAULT_BOT_TOKEN",
    "DEFAULT_WEBHOOK_PATH",
    "SlackServer",
    "hang",
    "ok",
    "refuse",
    "retry_after",
    "slack_error",
    "status",
]

DEFAULT_BOT_TOKEN = "xoxb-000000000000-0000000000000-fakebottoken000000000000"
DEFAULT_WEBHOOK_PATH = "/services/T000/B000/XXXX"
DEFAULT_CHANNELS = {"general": "C0000000001", "learning": "C0000000002"}
DEFAULT_USERS = {"learner@example.com": "U0000000001"}
TEAM_ID, BOT_ID, BOT_USER = "T0000000000", "B0000000001", "U0BOT00001"
_HTML = "text/html; charset=utf-8"
# Read methods Slack also takes as GET with query arguments.
READ_METHODS = {"users.lookupByEmail", "conversations.history", "conversations.list"}


class SlackServer(FakeServer):
    """The fake Slack workspace. Channels, users and webhooks are configurable."""

    name = "slack"
    counted_kinds = frozenset({"message", "webhook"})

    def __init__(
        self,
        bot_token: str = DEFAULT_BOT_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        channels: dict[str, str] | None = None,
        users: dict[str, str] | None = None,
        webhooks: dict[str, str] | None = None,
    ):
        """``channels``: name -> id (the bot is a member of all); ``users``: email -> user id;
        ``webhooks``: URL path -> channel id."""
        super().__init__(host, port)
        self._tokens: dict[str, bool] = {bot_token: True}
        self.bot_token = bot_token
        self._channels = dict(DEFAULT_CHANNELS if channels is None else channels)
        self._members = set(self._channels.values())
        self._archived: set[str] = set()
        self._users = {e.lower(): u for e, u in (DEFAULT_USERS if users is None else users).items()}
        self._webhooks = dict(
            {DEFAULT_WEBHOOK_PATH: next(iter(self._channels.values()), "C0000000001")}
            if webhooks is None
            else webhooks
        )
        self._revoked_hooks: set[str] = set()
        self._ims: dict[str, str] = {}
        self._messages: list[dict[str, Any]] = []
        self._last_ts = 0.0
        self._clock_skew = 0.0
        self._config_lock = threading.Lock()
        self._withheld_scopes: set[str] = set()
        self._private: set[str] = set()
        self._listed_at_most: int | None = None

    # -- configuration -----------------------------------------------------------------------
    def withhold_scope(self, scope: str) -> None:
        """The bot token lacks ``scope`` (e.g. ``channels:read``): the methods needing it answer
        ``missing_scope`` (https://api.slack.com/methods/conversations.list#errors)."""
        self._withheld_scopes.add(scope)

    def skew_clock(self, seconds: float) -> None:
        """Slack's clock runs ``seconds`` ahead of this host's (behind, if negative): a message's
        ``ts`` is Slack's time of posting, not the sender's (https://api.slack.com/messaging/retrieving,
        "ts"). A test also moves it on to stand for time passing at Slack."""
        self._clock_skew = seconds

    def list_at_most(self, channels: int) -> None:
        """``conversations.list`` pages hold at most ``channels`` channels, whatever ``limit`` asks:
        Slack "may return fewer than the requested number of items, even if the end of the list
        hasn't been reached" (https://api.slack.com/methods/conversations.list, ``limit``), and a
        large workspace's listing takes many pages."""
        self._listed_at_most = channels

    def add_channel(
        self, name: str, channel_id: str | None = None, member: bool = True, private: bool = False
    ) -> str:
        channel_id = channel_id or f"C{secrets.token_hex(5).upper()}"
        with self._config_lock:
            self._channels[name.lstrip("#")] = channel_id
            if member:
                self._members.add(channel_id)
            if private:
                self._private.add(channel_id)
        return channel_id

    def rename_channel(self, channel: str, new_name: str) -> str:
        """Give a channel (a name or an id) a new name, as an admin renaming it in Slack does:
        its id, members and messages stay; its old name is free for another channel
        (https://api.slack.com/methods/conversations.rename). Returns the channel's id."""
        with self._config_lock:
            channel_id = self._channels.get(channel.lstrip("#"), channel)
            old = next(name for name, known in self._channels.items() if known == channel_id)
            del self._channels[old]
            self._channels[new_name.lstrip("#")] = channel_id
        return channel_id

    def leave_channel(self, channel: str) -> None:
        """The bot is no longer a member: posting there answers ``not_in_channel``."""
        with self._config_lock:
            self._members.discard(self._channels.get(channel.lstrip("#"), channel))

    def archive_channel(self, channel: str) -> None:
        """Posts answer ``is_archived``; webhooks into it answer 410 ``channel_is_archived``."""
        with self._config_lock:
            self._archived.add(self._channels.get(channel.lstrip("#"), channel))

    def add_user(self, email: str, user_id: str | None = None) -> str:
        user_id = user_id or f"U{secrets.token_hex(5).upper()}"
        with self._config_lock:
            self._users[email.lower()] = user_id
        return user_id

    def add_webhook(self, channel: str, path: str | None = None) -> str:
        """A new incoming-webhook URL posting into ``channel`` (a name or an id)."""
        path = path or f"/services/{TEAM_ID}/B{secrets.token_hex(4).upper()}/{secrets.token_urlsafe(18)}"
        with self._config_lock:
            self._webhooks[path] = self._channels.get(channel.lstrip("#"), channel)
        return self.url + path

    def revoke_webhook(self, path: str = DEFAULT_WEBHOOK_PATH) -> None:
        """The webhook URL stops working: 404 ``no_service``."""
        with self._config_lock:
            self._revoked_hooks.add(path)

    def webhook_url(self, path: str = DEFAULT_WEBHOOK_PATH) -> str:
        return self.url + path

    @property
    def api_url(self) -> str:
        """Base of the Web API, like ``https://slack.com/api``."""
        return f"{self.url}/api"

    # -- tokens ------------------------------------------------------------------------------
    @property
    def tokens(self) -> list[str]:
        """Bot tokens that are currently valid."""
        with self._config_lock:
            return [t for t, valid in self._tokens.items() if valid]

    def issue_token(self) -> str:
        token = f"xoxb-{secrets.randbelow(10**12):012d}-{secrets.token_hex(12)}"
        with self._config_lock:
            self._tokens[token] = True
        return token

    def expire_tokens(self) -> int:
        """Invalidate every bot token: Web API calls answer ``invalid_auth``."""
        with self._config_lock:
            live = [t for t, valid in self._tokens.items() if valid]
            self._tokens = dict.fromkeys(self._tokens, False)
        return len(live)

    # -- observations ------------------------------------------------------------------------
    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Messages posted (Web API and webhooks): ``channel``, ``text``, ``blocks``, ``ts``, ``via``."""
        with self.state_lock:
            wanted = None if channel is None else self._channels.get(channel.lstrip("#"), channel)
            return [dict(m) for m in self._messages if wanted is None or m["channel"] == wanted]

    def describe(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "api_url": self.api_url,
            "bot_token": self.bot_token,
            "webhook_url": self.webhook_url(next(iter(self._webhooks), DEFAULT_WEBHOOK_PATH)),
            "channels": dict(self._channels),
            "users": dict(self._users),
        }

    def reset_state(self) -> None:
        self._messages.clear()

    # -- answers -----------------------------------------------------------------------------
    def contract_reply(self, request: FakeRequest, error: ContractError) -> Reply:
        if request.route == "webhook":
            return text_reply(error.status, error.error or "invalid_payload", content_type=_HTML)
        return json_reply(
            error.status,
            {
                "ok": False,
                "error": error.error or "invalid_arguments",
                "response_metadata": {"messages": [f"[ERROR] {error.reason}"]},
            },
        )

    def error_reply(self, request: FakeRequest, code: int, headers: dict[str, str]) -> Reply:
        if request.route == "webhook":
            text = {429: "rate_limited", 500: "rollup_error"}.get(code, f"http_{code}")
            return text_reply(code, text, headers, content_type=_HTML)
        error = "ratelimited" if code == 429 else "internal_error" if code >= 500 else f"http_{code}"
        return json_reply(code, {"ok": False, "error": error}, headers)

    def _ok(self, request: FakeRequest, payload: dict[str, Any]) -> Reply:
        if (
            payload.get("ok")
            and request.media_type == "application/json"
            and "charset=" not in (request.header("Content-Type") or "").lower()
        ):
            payload["warning"] = "missing_charset"
            payload["response_metadata"] = {"warnings": ["missing_charset"]}
        return json_reply(200, payload)

    # -- routing -----------------------------------------------------------------------------
    def route(self, request: FakeRequest) -> Outcome:
        path = request.url_path
        if path.startswith("/services/"):
            request.route = "webhook"
            return self._webhook(request)
        if not path.startswith("/api/"):
            return answer(json_reply(404, {"ok": False, "error": "not_found"}))
        method = request.route = path.removeprefix("/api/")
        handlers = {
            "chat.postMessage": self._post_message,
            "users.lookupByEmail": self._lookup_by_email,
            "conversations.open": self._open,
            "conversations.history": self._history,
            "conversations.list": self._list_channels,
        }
        if method not in handlers:
            return answer(json_reply(404, {"ok": False, "error": "unknown_method"}))
        if request.method != "POST" and not (method in READ_METHODS and request.method == "GET"):
            raise ContractError(f"{method} must be called with POST", "invalid_request")
        return handlers[method](request)

    def _auth_problem(self, request: FakeRequest, form: dict[str, str] | None = None) -> Reply | None:
        token = request.bearer() or (form or {}).get("token")
        if not token:
            return json_reply(200, {"ok": False, "error": "not_authed"})
        with self._config_lock:
            valid = self._tokens.get(token, False)
        return None if valid else json_reply(200, {"ok": False, "error": "invalid_auth"})

    def _arguments(self, request: FakeRequest, json_allowed: bool) -> tuple[dict[str, Any], Reply | None]:
        """The method's arguments (query, form or JSON), after the token check, which comes first."""
        is_form = request.method == "POST" and request.media_type == "application/x-www-form-urlencoded"
        form = {**request.query, **request.form()} if is_form else {}
        problem = self._auth_problem(request, form)
        if problem is not None:
            return {}, problem
        if request.method == "GET":
            return dict(request.query), None
        if is_form:
            return {k: v for k, v in form.items() if k != "token"}, None
        if request.media_type != "application/json":
            raise ContractError(
                "Content-Type must be application/json or application/x-www-form-urlencoded",
                "invalid_arguments",
            )
        if not json_allowed:
            raise ContractError(
                f"{request.route} takes no JSON body; send arguments as query or form parameters",
                "invalid_arguments",
            )
        body = request.json_body()
        if not isinstance(body, dict):
            raise ContractError("body must be a JSON object", "invalid_arguments")
        return body, None

    def _resolve(self, channel: str) -> str | None:
        if channel in self._ims.values() or channel in self._channels.values():
            return channel
        if channel in self._users.values():
            return self._ims.setdefault(channel, "D" + channel[1:])
        return self._channels.get(channel.lstrip("#"))

    def _post_message(self, request: FakeRequest) -> Outcome:
        body, problem = self._arguments(request, json_allowed=True)
        if problem:
            return answer(problem)
        if request.media_type != "application/json":
            raise ContractError(
                "this fake takes chat.postMessage as JSON (Content-Type: application/json)",
                "invalid_arguments",
            )
        check_post_message(body)

        def post() -> Reply:
            with self._config_lock:
                channel = self._resolve(body["channel"])
                archived = channel in self._archived
                member = channel in self._members or channel in self._ims.values()
            if channel is None:
                return json_reply(200, {"ok": False, "error": "channel_not_found"})
            if archived:
                return json_reply(200, {"ok": False, "error": "is_archived"})
            if not member:
                return json_reply(200, {"ok": False, "error": "not_in_channel"})
            ts = self._store(channel, body, "chat.postMessage")
            message = {"type": "message", "text": body["text"], "user": BOT_USER, "bot_id": BOT_ID, "ts": ts}
            if "metadata" in body:
                message["metadata"] = body["metadata"]
            if "blocks" in body:
                message["blocks"] = body["blocks"]
            return self._ok(request, {"ok": True, "channel": channel, "ts": ts, "message": message})

        return perform(post)

    def _store(self, channel: str, body: dict[str, Any], via: str) -> str:
        # Slack's time of posting, to the microsecond, unique (a later message never gets an
        # earlier or equal ts). Called under ``state_lock``.
        self._last_ts = max(time.time() + self._clock_skew, self._last_ts + 0.000001)
        ts = f"{self._last_ts:.6f}"
        self._messages.append(
            {
                "channel": channel,
                "text": body.get("text"),
                "blocks": body.get("blocks"),
                "ts": ts,
                "via": via,
                "metadata": body.get("metadata"),
            }
        )
        self.add_effect("message" if via != "webhook" else "webhook", f"{channel}|{body.get('text')}", body)
        return ts

    def _lookup_by_email(self, request: FakeRequest) -> Outcome:
        arguments, problem = self._arguments(request, json_allowed=False)
        if problem:
            return answer(problem)
        email = str(arguments.get("email") or "")
        if "@" not in email:
            raise ContractError("missing or malformed email argument", "invalid_arguments")

        def lookup() -> Reply:
            with self._config_lock:
                user_id = self._users.get(email.lower())
            if user_id is None:
                return json_reply(200, {"ok": False, "error": "users_not_found"})
            name = email.split("@")[0]
            return json_reply(
                200,
                {
                    "ok": True,
                    "user": {
                        "id": user_id,
                        "team_id": TEAM_ID,
                        "name": name,
                        "deleted": False,
                        "is_bot": False,
                        "profile": {"email": email, "real_name": name},
                    },
                },
            )

        return perform(lookup)

    def _open(self, request: FakeRequest) -> Outcome:
        body, problem = self._arguments(request, json_allowed=True)
        if problem:
            return answer(problem)
        check_open(body)

        def open_conversation() -> Reply:
            with self._config_lock:
                if "channel" in body:
                    channel = self._resolve(body["channel"])
                    if channel is None:
                        return json_reply(200, {"ok": False, "error": "channel_not_found"})
                    return json_reply(
                        200, {"ok": True, "no_op": True, "already_open": True, "channel": {"id": channel}}
                    )
                users = body["users"].split(",")
                if any(u not in self._users.values() for u in users):
                    return json_reply(200, {"ok": False, "error": "user_not_found"})
                key = ",".join(sorted(users))
                already = key in self._ims
                channel = self._ims.setdefault(
                    key, "D" + users[0][1:] if len(users) == 1 else "G" + secrets.token_hex(5).upper()
                )
            payload: dict[str, Any] = {"ok": True, "channel": {"id": channel}}
            if already:
                payload.update(no_op=True, already_open=True)
            return self._ok(request, payload)

        return perform(open_conversation)

    def _history(self, request: FakeRequest) -> Outcome:
        arguments, problem = self._arguments(request, json_allowed=False)
        if problem:
            return answer(problem)
        check_history(arguments)

        def history() -> Reply:
            with self._config_lock:
                channel = self._resolve(arguments["channel"])
                member = channel in self._members or channel in self._ims.values()
            if channel is None or channel != arguments["channel"]:  # history takes ids, not names
                return json_reply(200, {"ok": False, "error": "channel_not_found"})
            if not member:
                return json_reply(200, {"ok": False, "error": "not_in_channel"})
            oldest, latest = float(arguments.get("oldest", 0)), float(arguments.get("latest", 9e12))
            # ``inclusive``: messages at exactly ``oldest`` or ``latest`` too (by default neither).
            inclusive = str(arguments.get("inclusive", "")).lower() in ("true", "1")
            with_metadata = str(arguments.get("include_all_metadata", "")).lower() in ("true", "1")
            found = [
                {
                    "type": "message",
                    "text": m["text"],
                    "user": BOT_USER,
                    "bot_id": BOT_ID,
                    "ts": m["ts"],
                    **({"metadata": m["metadata"]} if with_metadata and m["metadata"] else {}),
                }
                for m in reversed(self._messages)
                if m["channel"] == channel
                and (oldest <= float(m["ts"]) <= latest if inclusive else oldest < float(m["ts"]) < latest)
            ]
            return self._page(found, arguments, "messages")

        return perform(history)

    def _list_channels(self, request: FakeRequest) -> Outcome:
        arguments, problem = self._arguments(request, json_allowed=False)
        if problem:
            return answer(problem)
        check_list(arguments)
        # Each type listed needs its scope: public_channel channels:read, private_channel
        # groups:read (https://api.slack.com/methods/conversations.list, "Required scopes").
        types = set(str(arguments.get("types") or "public_channel").split(","))
        needed = {"public_channel": "channels:read", "private_channel": "groups:read"}
        missing = sorted(needed[t] for t in types if t in needed and needed[t] in self._withheld_scopes)
        if missing:
            return answer(
                json_reply(
                    200,
                    {
                        "ok": False,
                        "error": "missing_scope",
                        "needed": ",".join(missing),
                        "provided": "chat:write",
                    },
                )
            )

        # Archived channels are listed unless ``exclude_archived`` is true (the default is false:
        # https://api.slack.com/methods/conversations.list).
        exclude_archived = str(arguments.get("exclude_archived", "")).lower() in ("true", "1")

        def listing() -> Reply:
            with self._config_lock:
                channels = [
                    {
                        "id": channel_id,
                        "name": name,
                        "name_normalized": name,
                        "is_channel": True,
                        "is_private": channel_id in self._private,
                        "is_archived": channel_id in self._archived,
                        "is_member": channel_id in self._members,
                    }
                    for name, channel_id in self._channels.items()
                    if not (exclude_archived and channel_id in self._archived)
                    and ("private_channel" if channel_id in self._private else "public_channel") in types
                ]
            return self._page(channels, arguments, "channels", at_most=self._listed_at_most)

        return perform(listing)

    @staticmethod
    def _page(
        items: list[dict[str, Any]], arguments: dict[str, Any], field: str, at_most: int | None = None
    ) -> Reply:
        start = int(arguments.get("cursor") or 0)
        limit = min(int(arguments.get("limit", 100)), at_most or 1000)
        page, more = items[start : start + limit], start + limit < len(items)
        payload: dict[str, Any] = {
            "ok": True,
            field: page,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }
        if field == "messages":
            payload["has_more"] = more
        return json_reply(200, payload)

    def _webhook(self, request: FakeRequest) -> Outcome:
        with self._config_lock:
            channel = self._webhooks.get(request.url_path)
            gone = request.url_path in self._revoked_hooks
        if channel is None or gone:
            return answer(text_reply(404, "no_service", content_type=_HTML))
        if request.method != "POST":
            return answer(text_reply(405, "invalid_method", {"Allow": "POST"}, content_type=_HTML))
        if request.media_type == "application/x-www-form-urlencoded":
            raw = request.form().get("payload")
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
        elif request.media_type == "application/json":
            body = request.json
        else:
            raise ContractError(
                "Content-Type must be application/json (or a form with payload=)", "invalid_payload"
            )
        if not isinstance(body, dict):
            raise ContractError("body must be a JSON object", "invalid_payload")
        check_webhook(body)

        def deliver() -> Reply:
            with self._config_lock:
                archived = channel in self._archived
            if archived:
                return text_reply(410, "channel_is_archived", content_type=_HTML)
            self._store(channel, body, "webhook")
            return text_reply(200, "ok", content_type=_HTML)

        return perform(deliver)
