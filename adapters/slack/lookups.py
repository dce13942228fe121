"""How a Slack bot retry finds its delivery's message before posting again (the adapter's
contract, ``adapters.slack.adapter``): by the idempotency key in the message metadata of a
conversation's recent history (``conversations.history`` with ``include_all_metadata``), in the
places earlier attempts kept with the delivery and in the one this attempt posts to.

https://api.slack.com/methods/conversations.history, https://api.slack.com/metadata/using
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from adapters.base import AdapterError, DeliveryBusy, DeliveryContext, OutboundRequest
from adapters.http import send as http_send
from adapters.slack import throttle
from adapters.slack.budget import Budget, OverBudget
from adapters.slack.channels import DIRECT_MESSAGE, ChannelIds, is_conversation_id, is_user_id
from adapters.slack.errors import checked

# How far back before the delivery was created its message is looked for, when no attempt that
# may have posted it is recorded with its time (``DeliveryContext.maybe_applied_between``).
HISTORY_MARGIN_SECONDS = 300
HISTORY_PAGE = 200
# How far either side of the time the attempts that may have posted ran their message is looked
# for. A message's ``ts`` is Slack's clock; the attempts' times are our workers'. NTP keeps both
# within a second; two minutes also cover a worker clock a minute or more off (a host without time
# sync drifts seconds a day) and a post Slack writes a while after our client stopped waiting (a
# timeout: the attempt's recorded end is when we gave up). A wider margin costs little: four
# minutes more of the channel read, within one page (``HISTORY_PAGE``) below 50 messages a minute.
CLOCK_MARGIN_SECONDS = 120


class Lookups:
    """The Web API requests of ``SlackAdapter`` and a bot's look-ups: where earlier attempts
    posted, and the channel ids its routing's names stand for."""

    config: dict[str, Any]
    secrets: dict[str, str]

    @property
    def api_base(self) -> str:
        return self.config.get("api_base", "https://slack.com/api").rstrip("/")

    def _timeout(self) -> float:
        return float(self.config.get("timeout_seconds", 10))

    def _bot_request(self, method: str, url_or_query: str = "", *, json: Any = None) -> OutboundRequest:
        headers = {"Authorization": f"Bearer {self.secrets['bot_token']}"}
        if json is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
        return OutboundRequest(
            method="POST" if json is not None else "GET",
            url=f"{self.api_base}/{method}{url_or_query}",
            json=json,
            headers=headers,
            timeout=self._timeout(),
            # A Web API answer is JSON, read whole (a page of channels or of history runs to tens
            # of kilobytes): the excerpt kept with an attempt would cut it short of parsing.
            whole_answer=True,
        )

    def _look(
        self,
        budget: Budget,
        method: str,
        query: dict[str, str] | None = None,
        *,
        json: Any = None,
        correlation_id: str = "",
    ) -> dict[str, Any]:
        """A look-up (any request but the post), counted against the attempt's ``budget``. Over
        it after a listing (``Budget.listed``): run again without counting, as a listing stopped
        part way is (``channels``), since the next attempt finds the listing kept. While Slack's
        Retry-After for ``method`` runs, nothing is asked: ``throttle.Throttled``, which puts the
        delivery back until then; a 429 answered here starts it (``throttle``)."""
        throttle.check(self.api_base, self.secrets["bot_token"], method)
        try:
            budget.spend(method)
        except OverBudget as over:
            if budget.listed and method != "conversations.list":  # the listing's own: channels.py
                raise DeliveryBusy(f"{over.message}; the channels listed are kept for the next") from None
            raise
        request = self._bot_request(method, f"?{urlencode(query)}" if query is not None else "", json=json)
        try:
            return checked(http_send(request, correlation_id=correlation_id))
        except AdapterError as error:
            if error.status_code == 429:
                throttle.hold(self.api_base, self.secrets["bot_token"], method, error.retry_after)
                error.throttled = True
            raise

    def _posted_earlier(
        self, context: DeliveryContext, current: str, earlier_user: str | None, budget: Budget
    ) -> str | None:
        """The ts of this delivery's message if an earlier attempt posted it in a conversation
        kept with the delivery other than ``current`` (which ``send`` looks in, once it is kept),
        found by the key in the message metadata of its history (``_posted_in``).
        Looked for while preparing, before this attempt's place is written in their stead: a
        look-up that fails fails the attempt with the places as they were, so none is dropped
        before it was looked in, whatever the routing did meanwhile. A conversation the bot can
        no longer read (removed from it, archived, deleted) is passed over: a message there, if
        any, is out of the bot's sight, and the routing now names another."""
        for earlier in context.external_id.split():
            if earlier == DIRECT_MESSAGE:
                earlier = earlier_user or ""
            if not earlier or earlier == current:
                continue
            try:
                ts = self._posted_in(self._conversation_id(earlier, budget), context, budget)
            except AdapterError as error:
                if not error.permanent:
                    raise
                ts = None
            if ts is not None:
                return ts
        return None

    def _posted_in(self, channel: str, context: DeliveryContext, budget: Budget) -> str | None:
        """The ts of this delivery's message in ``channel``, by the key in its metadata: looked for
        in the times the attempts that may have posted it ran (``oldest``/``latest``, inclusive,
        ``CLOCK_MARGIN_SECONDS`` either side), each on its own, so a channel that has had more
        messages since, or between them, than one attempt may read (``budget``) does not keep the
        retry from finding it; without such a time recorded, in all since the delivery was
        created, newest first."""
        for oldest, latest in self._history_windows(context, budget):
            query = {"channel": channel, "include_all_metadata": "true", "limit": str(HISTORY_PAGE)}
            query["oldest"] = f"{oldest:.6f}"
            if latest is not None:
                query.update(latest=f"{latest:.6f}", inclusive="true")
            while True:
                page = self._look(budget, "conversations.history", query)
                for message in page.get("messages") or []:
                    payload = (message.get("metadata") or {}).get("event_payload") or {}
                    if payload.get("idempotency_key") == context.idempotency_key:
                        return message.get("ts")
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not page.get("has_more") or not cursor:
                    break
                query["cursor"] = cursor
        return None

    @staticmethod
    def _history_windows(context: DeliveryContext, budget: Budget) -> list[tuple[float, float | None]]:
        """Where ``_posted_in`` reads, newest first: each time an attempt that may have posted ran,
        with the clock margin, those the margin makes overlap as one; a single span from the first
        to the last when there are more than the look-ups left could read one page each (a wider
        read rather than some left unread); since the delivery was created without such times."""
        if not context.maybe_applied_between:
            created = context.created_at.timestamp() if context.created_at else time.time() - 86400
            return [(created - HISTORY_MARGIN_SECONDS, None)]
        windows: list[tuple[float, float | None]] = []
        for first, last in context.maybe_applied_between:
            oldest, latest = first.timestamp() - CLOCK_MARGIN_SECONDS, last.timestamp() + CLOCK_MARGIN_SECONDS
            if windows and oldest <= (windows[-1][1] or 0.0):
                before, before_latest = windows.pop()
                oldest, latest = before, max(latest, before_latest or 0.0)
            windows.append((oldest, latest))
        if len(windows) > budget.left - 1:
            windows = [(windows[0][0], windows[-1][1])]
        return windows[::-1]

    def _routed_channel(self, channel: str, budget: Budget, delivery_key: str = "") -> dict[str, Any]:
        """The id to post into for the channel the routing names (an id or user id as given), and
        whether it came from the cached listing (``channel_cached``): a post there that finds no
        such channel drops that listing and is retried on a fresh one. A name the bot may not
        list is posted to by name (``by_name``), as before places were kept as ids: where no
        retry can look (channels.py). A name missing from a listing older than the route waits for
        a newer one (``ChannelIds.confirm_missing``) before it is a permanent error."""
        if is_conversation_id(channel) or is_user_id(channel):
            return {"channel_id": channel}
        routed_at = time.time()  # the route was read by now: a listing begun since is newer
        channel_id, directory = self._named_channel(channel, budget, (delivery_key, routed_at))
        if channel_id is None:
            return {"channel_id": channel, "by_name": True}
        return {"channel_id": channel_id, "channel_cached": not directory.listed_now}

    def _conversation_id(self, channel: str, budget: Budget) -> str:
        """The id ``conversations.history`` needs for what ``chat.postMessage`` was given: an id,
        a user id (their direct-message channel), or a channel name (kept by a delivery attempted
        before places were kept as ids: the channel so named now). Asked only by a retry of an
        attempt that may have posted (``_may_have_posted``)."""
        if is_conversation_id(channel):
            return channel
        if is_user_id(channel):
            return self._look(budget, "conversations.open", json={"users": channel})["channel"]["id"]
        channel_id, _ = self._named_channel(channel, budget)
        if channel_id is None:
            # A name it may not list (channels.py): not passed over as unread, which would post again.
            raise AdapterError(
                f"it may be posted in {channel!r}, and the bot cannot look", ambiguous=True, unlookable=True
            )
        return channel_id

    def _named_channel(
        self, name: str, budget: Budget, routed: tuple[str, float] | None = None
    ) -> tuple[str | None, ChannelIds]:
        """The id of the channel ``name`` stands for, the one rule for a routing's name and an
        earlier attempt's (``ChannelIds.id_for``: ``#`` or not, as listed), with the listing it
        came from; None for a name the bot may not list (``ChannelIds.may_not_list``: posted to
        by name). A name the bot lists channels for and finds none of is a permanent error: for a
        route (``routed``: the delivery's key and when the route was read), only in a listing
        begun since (``ChannelIds.confirm_missing``); an earlier attempt's place, a channel gone
        since, at once (passed over: ``_posted_earlier``)."""
        directory = self._channel_directory(budget)
        channel_id = directory.id_for(name)
        if channel_id is None and not directory.may_not_list:
            if routed is not None:
                directory.confirm_missing(name, *routed)
            raise AdapterError(
                f"Slack has no channel named {name!r} the bot can see (channel_not_found)", permanent=True
            )
        return channel_id, directory

    def _channel_directory(self, budget: Budget | None = None) -> ChannelIds:
        """The channel ids by name; listing pages paid from ``budget`` (none: no listing)."""

        def list_page(query: dict[str, str]) -> dict[str, Any]:
            return self._look(budget or Budget(0), "conversations.list", query)

        return ChannelIds(self.api_base, self.secrets["bot_token"], list_page)
