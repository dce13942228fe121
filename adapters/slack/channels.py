"""Slack channel names to channel ids, for a bot target.

A Slack channel's id outlives its name: a channel renamed keeps its id, members and history, and
its old name may go to another channel (https://api.slack.com/methods/conversations.rename). So
the adapter posts into, and keeps with a delivery, the id its routing's name stands for: a later
attempt looks for the message in the channel it went to, whatever that channel is called by then.

The ids come from ``conversations.list`` (paginated; https://api.slack.com/methods/conversations.list),
kept in the shared cache per target (API base and bot token) for ``IDS_CACHE_SECONDS``: one
listing a target every few minutes, not one a message (the method is rate-limited, Tier 2). A
name not in the listing kept is looked up afresh, at most once every ``MISS_REFRESH_SECONDS`` (a
channel made a moment ago is found; a misconfigured name does not list the workspace each time).
A channel renamed within the cached window still gets messages sent by its old name until the
listing is renewed: a message in the channel that was so named, never a second one.

A token without ``groups:read`` may list public channels only: a listing asking for private ones
too is refused (``missing_scope``), so it is asked again for public ones, and a name not among them
(a private channel, perhaps) is posted to by name. A bot token without ``channels:read`` cannot
list at all: that refusal is kept like a listing, and the adapter posts by name as it did before
places were kept as ids (a rename between attempts can then double a message; a warning says which
scope would prevent it). Nor can it look for a message in a channel it names so
(``conversations.history`` takes ids): a retry posts when no earlier attempt may have posted (Slack
refused it: a 429, a refused connection), and an attempt that may have (a timeout, a 5xx) is parked
as "outcome unknown" for an admin, as an incoming webhook's is.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from django.core.cache import cache

from adapters.base import AdapterError

log = logging.getLogger(__name__)

IDS_CACHE_SECONDS = 600
MISS_REFRESH_SECONDS = 60
LIST_PAGE = "1000"  # conversations.list's largest page
# Kept with a delivery whose message went to the learner's direct messages (``kept_place``): no
# channel id or name is so written.
DIRECT_MESSAGE = "@direct-message"
KEPT_PLACE_CHARS = 200  # Delivery.external_id; Slack ids are about 11


def is_conversation_id(channel: str) -> bool:
    """A channel, private group or direct-message id (``C…``, ``G…``, ``D…``), not a name."""
    return channel[:1] in ("C", "G", "D") and channel[1:].isalnum() and channel.isupper()


def is_user_id(channel: str) -> bool:
    """A user id (``U…``, ``W…``): ``chat.postMessage`` posts into their direct messages."""
    return channel[:1] in ("U", "W") and channel[1:].isalnum() and channel.isupper()


def kept_place(channel: str) -> str:
    """Where a later attempt should look for a delivery's message, should the routing change
    meanwhile: the conversation this attempt posts to (those of earlier attempts were looked in
    while preparing it). A channel by its id (a rename leaves it where it was); for a learner's
    direct messages only that they went there (their user id would be personal data kept with the
    delivery: the look-up finds it again)."""
    direct = is_user_id(channel) or (channel[:1] == "D" and is_conversation_id(channel))
    place = DIRECT_MESSAGE if direct else channel
    return place if len(place) <= KEPT_PLACE_CHARS else ""


class ChannelIds:
    """The ids of the channels a bot can see, by name (without ``#``)."""

    def __init__(self, api_base: str, bot_token: str, list_page: Callable[[dict[str, str]], dict[str, Any]]):
        # The token in the key only as a digest: two targets share a listing only with one token.
        self.key = "lrs:slack-channel-ids:" + hashlib.sha256(f"{api_base}|{bot_token}".encode()).hexdigest()
        self._list_page = list_page
        self.listed_now = False  # whether the last ``id_for`` listed the channels (not the cache)
        self.may_not_list = False  # whether the token lacks the scope to list them

    def id_for(self, name: str) -> str | None:
        """The id of the channel named ``name`` (``#`` or not), or None when the bot sees none."""
        name = name.lstrip("#")
        kept = cache.get(self.key)
        self.listed_now = False
        if kept is None or (name not in kept["ids"] and time.time() - kept["at"] >= MISS_REFRESH_SECONDS):
            kept = self._listed()
            self.listed_now = True
        found = kept["ids"].get(name)
        # A name the bot may not have been allowed to list: posted to by name (see above).
        self.may_not_list = bool(kept.get("may_not_list") or (kept.get("public_only") and found is None))
        return found

    def forget(self) -> None:
        """Drop the kept listing (a post into one of its ids found no such channel)."""
        cache.delete(self.key)

    def _listed(self) -> dict[str, Any]:
        for types in ("public_channel,private_channel", "public_channel"):
            try:
                ids = self._listing(types)
            except AdapterError as error:
                if "missing_scope" not in error.message:
                    raise
                continue
            kept = {"at": time.time(), "ids": ids, "public_only": "private" not in types}
            if kept["public_only"]:
                log.warning(
                    "The Slack bot token may not list private channels (missing_scope: it needs "
                    "groups:read): a private channel is posted to by name, which a rename between "
                    "attempts can double"
                )
            break
        else:
            log.warning(
                "The Slack bot token may not list channels (missing_scope: it needs channels:read, "
                "and groups:read for private ones): posting by channel name, which a rename "
                "between attempts can double"
            )
            kept = {"at": time.time(), "ids": {}, "may_not_list": True}
        cache.set(self.key, kept, timeout=IDS_CACHE_SECONDS)
        return kept

    def _listing(self, types: str) -> dict[str, str]:
        ids: dict[str, str] = {}
        query = {"types": types, "exclude_archived": "true", "limit": LIST_PAGE}
        while True:
            page = self._list_page(query)
            ids.update({channel["name"]: channel["id"] for channel in page.get("channels") or []})
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return ids
            query = {**query, "cursor": cursor}
