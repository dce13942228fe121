"""Slack notifications: ``chat.postMessage`` with a bot token (Block Kit blocks plus a plain
``text`` fallback), or an incoming-webhook URL.

**What Slack holds** (the contract; tests/adapters/slack/ check it against the fake Slack): at
most one message per delivery, in effect, after any retries, replays and backfills, and only the
messages the privacy defaults allow:

- A completion or pass is announced in the routed channel (a channel per activity id, then per
  course id prefix, then the default channel), or as a direct message to the learner found by
  e-mail (``users.lookupByEmail``, the answer remembered a while: ``adapters.slack.users``) with
  ``direct_message``. A failed result, a score below
  ``min_score`` or a bare score is never posted to a channel; ``failures: "direct_message"``
  tells the learner alone. The score is shown only with ``include_score``; ``pseudonymise``
  names nobody ("A learner"). An activity or learner name too long for Block Kit is cut to its
  beginning, not refused (``adapters.slack.message``).
- Each message carries the delivery's idempotency key in its ``metadata``. After an attempt that may
  have posted (a timeout, a connection lost after sending, a 5xx), the next attempt first looks for
  that key in the channel's recent history (``conversations.history`` with ``include_all_metadata``;
  ``adapters.slack.lookups``) and posts only if it is not there. It looks where earlier attempts
  posted as well, written on the delivery before each post goes out (the channel's id, or that it
  was the learner's direct messages) and replaced only once looked in, so a routing change between
  attempts (an admin moving a course elsewhere) posts no second message, even after a worker died
  between posting and recording it; a channel the bot can no longer read is passed over. A routed
  channel name is resolved to its id before the post (``conversations.list``, cached:
  ``adapters.slack.channels``; a name missing from a listing older than the route waits, uncounted,
  for a newer one: a channel made and routed to a moment ago gets its messages, and a name nobody
  made is ``channel_not_found`` once a listing since misses it), so a channel renamed between
  attempts, its old name perhaps given to another, is still where the retry looks (the id
  ``chat.postMessage`` answers comes too late: the attempts that need it are those whose answer
  never came). A forced backfill never re-posts a delivered message. Incoming webhooks offer no
  such look-up: there, an ambiguous failure parks the delivery as "outcome unknown" for an admin
  instead.
- Slack answers HTTP 200 with ``"ok": false`` for many errors: ``invalid_auth``,
  ``channel_not_found``, ``not_in_channel`` and the like are permanent; ``ratelimited`` (HTTP 429)
  honours ``Retry-After`` across workers: a look-up's for its method alone, a post's for every post
  of the workspace (``adapters.slack.throttle``); the deliveries held meanwhile wait uncounted, and
  a 429 is no failure of the target (its breaker counts none: a rate limit is not a fault).

https://api.slack.com/methods/chat.postMessage, https://api.slack.com/methods/conversations.history,
https://api.slack.com/metadata/using
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any, ClassVar

from adapters.base import (
    PRIVACY_CONFIG_PROPERTIES,
    Adapter,
    AdapterError,
    AlertNotice,
    DeliveryContext,
    NothingToSend,
    OutboundRequest,
    SendResult,
)
from adapters.http import send as http_send
from adapters.identity.resolution import nothing_for_erased
from adapters.rules.emails import email_from_actor
from adapters.rules.notifications import configured_announcement, notification_for
from adapters.slack import throttle, users
from adapters.slack.budget import Budget
from adapters.slack.channels import DIRECT_MESSAGE, kept_place
from adapters.slack.errors import CHANNEL_ERRORS, PERMANENT_ERRORS, checked
from adapters.slack.lookups import Lookups
from adapters.slack.message import message

METADATA_EVENT = "lrs_learning_record"
POST = "chat.postMessage"


class SlackAdapter(Lookups, Adapter):
    holds_until_linked = False  # it names the learner by the statement's actor, never a link
    name = "slack"
    description = "Slack messages (bot token or incoming webhook)"
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "mode": {"enum": ["bot", "webhook"]},
            "bot_token": {"secret": True, "description": 'xoxb- token, as {"env": ...}'},
            "webhook_url": {"secret": True, "description": 'incoming webhook URL, as {"env": ...}'},
            "api_base": {"type": "string", "pattern": "^https?://"},
            "default_channel": {"type": "string", "minLength": 1},
            "channels_by_activity": {"type": "object", "additionalProperties": {"type": "string"}},
            "channels_by_prefix": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["prefix", "channel"],
                    "additionalProperties": False,
                    "properties": {"prefix": {"type": "string"}, "channel": {"type": "string"}},
                },
            },
            "direct_message": {"type": "boolean", "description": "announce to the learner, not a channel"},
            "alert_channel": {
                "type": "string",
                "description": "where an alert target posts (default_channel)",
            },
            "include_score": {"type": "boolean"},
            "failures": {
                "enum": ["skip", "direct_message"],
                "description": "failed results: never posted (skip, default) or told the learner alone",
            },
            "min_score": {
                "type": "number",
                "minimum": 0,
                "maximum": 100,
                "description": "a completion scored below this counts as a failure",
            },
            "announce_scores": {"type": "boolean", "description": "announce bare scores too"},
            "preferred_languages": {"type": "array", "items": {"type": "string"}},
            "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 120},
            **PRIVACY_CONFIG_PROPERTIES,
        },
        "oneOf": [
            {"properties": {"mode": {"const": "webhook"}}, "required": ["mode", "webhook_url"]},
            {"properties": {"mode": {"const": "bot"}}, "required": ["mode", "bot_token", "default_channel"]},
        ],
        "allOf": [
            {  # a message to the learner needs to know who the learner is
                "if": {"required": ["pseudonymise"], "properties": {"pseudonymise": {"const": True}}},
                "then": {"properties": {"direct_message": {"const": False}, "failures": {"const": "skip"}}},
            },
            {  # incoming webhooks post to their one channel
                "if": {"properties": {"mode": {"const": "webhook"}}},
                "then": {"properties": {"direct_message": {"const": False}, "failures": {"const": "skip"}}},
            },
        ],
    }
    # A delivered message is never posted again (a forced backfill skips it).
    repeatable = False
    carries_alerts = True
    looked_ahead: frozenset[str] | set[str] = frozenset()  # keys of this batch's look-ups ahead

    def channel_for(self, activity_id: str) -> str:
        by_activity = self.config.get("channels_by_activity", {})
        if activity_id in by_activity:
            return by_activity[activity_id]
        for rule in self.config.get("channels_by_prefix", []):
            if activity_id.startswith(rule["prefix"]):
                return rule["channel"]
        return self.config["default_channel"]

    @classmethod
    def requests_per_send(cls, config: dict[str, Any]) -> int:
        """A bot's retry of a post that may have been made looks first: the learner's user
        (direct messages), the routed channel's id (a page of channels listed, unless cached; two
        without groups:read, the first refused), a page of the history of where earlier attempts
        posted (up to three places kept by a delivery from before places were replaced once
        looked in; a direct-message conversation opened) and of where it posts, then the post.
        No attempt makes more (``adapters.slack.budget``): a listing of more pages goes on in the
        next attempt."""
        return 9 if config.get("mode", "bot") == "bot" else super().requests_per_send(config)

    def may_resend_unknown_outcome(self) -> bool:
        # A bot can look its message up before posting again, in a conversation it has the id of;
        # an incoming webhook cannot. A bot's post by channel name (a channel it may not list:
        # channels.py) is the exception, marked on its error (``unlookable``): parked alone, not
        # every post of a token lacking groups:read or channels:read.
        return self.config.get("mode") == "bot"

    def resolve(self, statement: dict, context: DeliveryContext) -> dict[str, Any]:
        # An erased learner's statement (its actor a pseudonym) is announced nowhere, even when a
        # replay or backfill brings back a delivery the erasure cancelled (adapters/privacy/erasure.py).
        nothing_for_erased(statement["actor"])
        told = configured_announcement(statement, self.config)
        if told.audience is None:
            return {"audience": None, "reason": told.reason}
        to_learner = told.audience == "learner" or bool(self.config.get("direct_message"))
        # An earlier attempt went to the learner's direct messages, and this one may not (the
        # target's direct_message changed since): its look-up needs their Slack user.
        earlier_dm = DIRECT_MESSAGE in context.external_id.split() and _may_have_posted(context)
        to_user = to_learner and not self.pseudonymised
        if self.config.get("mode") != "bot":
            return {"audience": told.audience}
        # Posts held (Slack answered one 429): no look-up for a post that is not to be made yet.
        throttle.check(self.api_base, self.secrets["bot_token"], POST)
        budget = Budget(self.requests_per_send(self.config))
        resolved: dict[str, Any] = {"audience": told.audience, "budget": budget}
        if to_user or earlier_dm:
            email, name = _learner(statement)
            user = self._slack_user(email, name, budget, resolved, context.correlation_id) if email else None
            if user is None and told.audience == "learner":
                return {
                    "audience": None,
                    "reason": f"{told.reason}, but the learner has no Slack account here",
                }
            resolved.update(slack_user=user if to_user else None, earlier_user=user)
        if not resolved.get("slack_user"):
            activity_id = notification_for(statement, preferred_languages=[], include_score=False).activity_id
            routed = self._routed_channel(self.channel_for(activity_id), budget, context.idempotency_key)
            resolved.update(routed)
        if _may_have_posted(context):  # before this attempt's place replaces the earlier ones
            current = resolved.get("slack_user") or resolved.get("channel_id") or ""
            resolved["posted"] = self._posted_earlier(context, current, resolved.get("earlier_user"), budget)
        return resolved

    def lookups_ahead(self, statements: list[dict]) -> list[Callable[[], object]]:
        """The learners these statements' direct messages go to, each not remembered looked up once,
        before the batch is prepared, concurrently (``adapters.delivery.pacing.ahead``)."""
        if self.config.get("mode") != "bot" or self.pseudonymised:
            return []
        wanted: dict[str, tuple[str, str]] = {}
        for statement in statements:
            told = configured_announcement(statement, self.config)
            if told.audience is None or not (told.audience == "learner" or self.config.get("direct_message")):
                continue  # as ``resolve`` (a retry's look-up for an earlier place is its own)
            email, name = _learner(statement)
            if not email:
                continue
            key = users.key_for(self.api_base, self.secrets["bot_token"], email, name)
            if not users.remembered(key)[0]:
                wanted.setdefault(key, (email, name))
        self.looked_ahead = set(wanted)
        return [partial(self._looked_up, key, email, Budget(2)) for key, (email, _) in wanted.items()]

    def _slack_user(
        self, email: str, name: str, budget: Budget, resolved: dict[str, Any], correlation_id: str = ""
    ) -> str | None:
        """The learner's Slack user id, None when the workspace has none for the address: looked up
        (``users.lookupByEmail``) or remembered from a look-up lately (``adapters.slack.users``:
        for how long, and why the name counts); ``resolved["user_key"]`` says which was kept."""
        key = users.key_for(self.api_base, self.secrets["bot_token"], email, name)
        if key in self.looked_ahead:  # this batch's request ahead, found or not: this attempt's too
            budget.spend("users.lookupByEmail")
        known, user = users.remembered(key)
        if known:
            resolved["user_key"] = key  # a post there that finds no one drops it (``send``)
            return user
        return self._looked_up(key, email, budget, correlation_id)

    def _looked_up(self, key: str, email: str, budget: Budget, correlation_id: str = "") -> str | None:
        """``users.lookupByEmail``'s answer for ``email``, remembered under ``key``. Once Slack
        has answered one 429, none of the workspace's (ahead or preparing) asks until its
        Retry-After has passed: each delivery is put back until then, uncounted (``throttle``)."""
        try:
            answer = self._look(
                budget, "users.lookupByEmail", {"email": email}, correlation_id=correlation_id
            )
        except AdapterError as error:
            if "users_not_found" in error.message:
                users.remember(key, None)
                return None  # not in this workspace: the channel rule applies
            raise
        if not answer["user"].get("deleted"):  # a deactivated account is asked about again
            users.remember(key, answer["user"]["id"])
        return answer["user"]["id"]

    def translate(self, statement: dict, context: DeliveryContext) -> OutboundRequest:
        if context.resolved.get("audience") is None:
            raise NothingToSend(context.resolved.get("reason") or "not announced")
        note = notification_for(
            statement,
            preferred_languages=self.config.get("preferred_languages", ["en-US", "en"]),
            include_score=self.config.get("include_score", False),
        )
        text, blocks = message(note, pseudonymised=self.pseudonymised)
        if self.config.get("mode") == "webhook":
            return OutboundRequest(
                method="POST",
                url=self.secrets["webhook_url"],
                json={"text": text, "blocks": blocks},
                timeout=self._timeout(),
            )
        channel = (
            context.resolved.get("slack_user")
            or context.resolved.get("channel_id")
            or self.channel_for(note.activity_id)
        )
        metadata = {
            "event_type": METADATA_EVENT,
            "event_payload": {"idempotency_key": context.idempotency_key},
        }
        body = {
            "channel": channel,
            "text": text,
            "blocks": blocks,
            "unfurl_links": False,
            "metadata": metadata,
        }
        # Found already posted: the places kept stay as they are (nothing is posted).
        place = "" if context.resolved.get("posted") else kept_place(channel)
        return replace(self._bot_request(POST, json=body), destination=place)

    def alert_requests(self, notice: AlertNotice) -> list[OutboundRequest]:
        """The alert as a message: to the incoming webhook's channel, or with a bot to
        ``alert_channel`` (default: ``default_channel``)."""
        icon = ":rotating_light:" if notice.state == "raised" else ":white_check_mark:"
        text = f"{icon} {notice.text} <{notice.link}|open in the admin>"
        if self.config.get("mode") == "webhook":
            return [
                OutboundRequest(
                    method="POST",
                    url=self.secrets["webhook_url"],
                    json={"text": text},
                    timeout=self._timeout(),
                )
            ]
        channel = self.config.get("alert_channel") or self.config["default_channel"]
        metadata = {"event_type": METADATA_EVENT, "event_payload": {"idempotency_key": notice.key}}
        body = {"channel": channel, "text": text, "unfurl_links": False, "metadata": metadata}
        return [self._bot_request(POST, json=body)]

    def send(self, request: OutboundRequest, context: DeliveryContext) -> SendResult:
        if self.config.get("mode") == "bot":  # held since it was prepared (another post's 429)?
            throttle.check(self.api_base, self.secrets["bot_token"], POST)
        if self.config.get("mode") == "bot" and _may_have_posted(context):
            # An earlier attempt may have posted it (timed out, or a 5xx after posting): found by
            # ``resolve`` in an earlier place, or looked for here in the one just kept.
            # By name (the bot may not list channels): no id to look in, so not sent again blindly.
            ts = context.resolved.get("posted")
            if not ts and context.resolved.get("by_name") and context.maybe_applied:
                raise AdapterError(
                    "an earlier attempt may have posted it, and the bot cannot look",
                    ambiguous=True,
                    unlookable=True,
                )
            if not ts and not context.resolved.get("by_name"):
                budget = context.resolved.get("budget") or Budget(self.requests_per_send(self.config))
                channel = self._conversation_id(request.json["channel"], budget)
                ts = self._posted_in(channel, context, budget)
            if ts is not None:
                return SendResult(status_code=200, note=f"already posted (message {ts}), not posted again")
        try:
            result = http_send(request, correlation_id=context.correlation_id)
        except AdapterError as error:
            # Incoming webhooks answer errors as plain text with 400/403/404/410.
            if error.response_body.strip() in PERMANENT_ERRORS:
                error.permanent = True
            # Posted by name, perhaps: the retry would have no id to look in.
            error.unlookable = error.ambiguous and bool(context.resolved.get("by_name"))
            if error.status_code == 429 and self.config.get("mode") == "bot":
                # Slack limits posting per channel and per workspace, and the 429 says not which:
                # no post of the workspace's until Retry-After, and no fault of the target.
                throttle.hold(self.api_base, self.secrets["bot_token"], POST, error.retry_after)
                error.throttled = True
            raise
        if self.config.get("mode") == "bot":
            try:
                checked(result)
            except AdapterError as error:
                if context.resolved.get("channel_cached") and any(e in error.message for e in CHANNEL_ERRORS):
                    # The cached listing may be out of date (the channel renamed, archived or
                    # deleted since): list afresh on the retry rather than give up on it.
                    self._channel_directory().forget()
                    error.permanent = False
                remembered = context.resolved.get("slack_user") and context.resolved.get("user_key")
                if remembered and any(e in error.message for e in users.CONVERSATION_GONE):
                    # The address's remembered account takes no message (re-assigned in Slack,
                    # the old account deactivated): looked up afresh on the retry.
                    users.drop(context.resolved["user_key"])
                    error.permanent = False
                raise
        return result


def _may_have_posted(context: DeliveryContext) -> bool:
    """Whether an earlier attempt of the delivery may have posted its message, so this one looks
    for it first: one whose request may have reached Slack unanswered (a timeout, a connection
    lost, a 5xx; a worker that stopped mid-send: the sweep marks it), ``maybe_applied``. A retry
    after Slack refused (a 429, ``"ok": false``, a connection refused) has nothing to find, and
    looking through more history than one attempt may read (``budget``) would fail it unposted
    every time, however often it is tried."""
    return context.attempt > 1 and context.maybe_applied


def _learner(statement: dict) -> tuple[str | None, str]:
    """The actor's e-mail address (as Slack holds it: no alias folded) and name."""
    actor = statement["actor"]
    email = email_from_actor(actor, strip_plus_aliases=False, dotless_domains=frozenset())
    return email, str(actor.get("name") or "")
