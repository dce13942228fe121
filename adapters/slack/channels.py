"""Slack channel names to channel ids, for a bot target.

A Slack channel's id outlives its name: a channel renamed keeps its id, members and history, and
its old name may go to another channel (https://api.slack.com/methods/conversations.rename). So
the adapter posts into, and keeps with a delivery, the id its routing's name stands for: a later
attempt looks for the message in the channel it went to, whatever that channel is called by then.

The ids come from ``conversations.list`` (paginated; https://api.slack.com/methods/conversations.list),
kept in the shared cache per target (API base and bot token) for ``IDS_CACHE_SECONDS``: one
listing a target every few minutes, not one a message (the method is rate-limited, Tier 2). A
name not in the listing kept is looked up afresh, at most once every ``MISS_REFRESH_SECONDS`` (a
channel made a moment ago is found; a misconfigured name does not list the workspace each time),
by a renewal kept beside the listing until it is whole: the names listed before are found
meanwhile, not held back while a large workspace is listed again over a few attempts. A channel
renamed within the cached window still gets messages sent by its old name until the listing is
renewed: a message in the channel that was so named, never a second one. A routed name missing
from a listing that began before the delivery first looked for it (an admin made the channel and
routed a course to it within that minute) is no proof it is missing: the delivery is put back,
not counting an attempt (``NotListedYet``, a ``DeliveryBusy``), until the renewal is due, and
is a dead letter (``channel_not_found``) only once a listing begun since misses it too
(``ChannelIds.confirm_missing``).

A workspace of thousands of channels lists in several pages (at most ``LIST_PAGE`` channels each,
often fewer: Slack may give fewer than asked before the end), more than one attempt may request
(``adapters.slack.budget``: a send making more than its claim was sized for could be made twice).
So a listing stops at the page naming the channel sought and is kept with its cursor; one that
runs out of budget first is kept as far as it got, and the delivery runs again a moment later,
not counting an attempt (``DeliveryBusy``); one refused on the way (a 429: the method is Tier 2)
is kept as far as it got too, and its retry goes on from there. Every attempt, of any delivery of
the target, pages on from where the last stopped: the workspace is listed once, over a few
attempts, then cached as above, rather than every delivery re-listing it from the start (and a
5,000-channel workspace costing each of them its Tier 2 quota of pages).

A token without ``groups:read`` may list public channels only: a listing asking for private ones
too is refused (``missing_scope``), so it is asked again for public ones, and a name not among them
(a private channel, perhaps) is posted to by name; such a miss does not list the workspace afresh
(it is one by nature, not by age): the public listing is renewed as any listing is, after
``IDS_CACHE_SECONDS``, and a refused one likewise. A bot token without ``channels:read`` cannot
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

from adapters.base import AdapterError, DeliveryBusy
from adapters.slack.budget import OverBudget

log = logging.getLogger(__name__)

IDS_CACHE_SECONDS = 600
MISS_REFRESH_SECONDS = 60
LIST_PAGE = "1000"  # conversations.list's largest page
# Kept with a delivery whose message went to the learner's direct messages (``kept_place``): no
# channel id or name is so written.
DIRECT_MESSAGE = "@direct-message"
KEPT_PLACE_CHARS = 200  # Delivery.external_id; Slack ids are about 11


class NotListedYet(DeliveryBusy):
    """A routed name missing from a listing older than the route (``ChannelIds.confirm_missing``):
    not an attempt; the delivery runs again once the listing may be renewed."""


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
        self.listed_at = 0.0  # when the listing the last ``id_for`` read began (epoch seconds)

    def id_for(self, name: str) -> str | None:
        """The id of the channel named ``name`` (``#`` or not), or None when the bot sees none.
        ``DeliveryBusy`` when the listing needs more pages than this attempt may request: it goes
        on from there in the next."""
        name = name.lstrip("#")
        kept = cache.get(self.key)
        self.listed_now = False
        if kept is None or (name not in kept["ids"] and (kept.get("cursor") or self._miss_refresh_due(kept))):
            kept = self._listed(name, kept)
        found = kept["ids"].get(name)
        # A name the bot may not have been allowed to list: posted to by name (see above).
        self.may_not_list = bool(kept.get("may_not_list") or (kept.get("public_only") and found is None))
        self.listed_at = kept["at"]
        return found

    def confirm_missing(self, name: str, delivery_key: str, routed_at: float) -> None:
        """Raise ``NotListedYet`` unless the listing that just missed ``name`` (``id_for``) began
        after the delivery first looked for it, at ``routed_at`` (its route read by then; the
        first such time kept in the shared cache, so a listing another delivery renewed meanwhile
        counts too): a channel made and routed to since the listing, within the minute before its
        renewal is due (``MISS_REFRESH_SECONDS``), is not there yet, and is no reason to give the
        delivery up."""
        digest = hashlib.sha256(f"{delivery_key}|{name.lstrip('#')}".encode()).hexdigest()
        marker = f"{self.key}:missed:{digest}"
        cache.add(marker, routed_at, timeout=IDS_CACHE_SECONDS)
        first = cache.get(marker) or routed_at
        if self.listed_at >= first:
            cache.delete(marker)
            return
        wait = max(self.listed_at + MISS_REFRESH_SECONDS - time.time(), 0.0)
        raise NotListedYet(
            f"no channel named {name!r} among the channels listed {time.time() - self.listed_at:.0f} s "
            f"ago, before the route to it was read: looked for in a listing {wait:.0f} s on",
            retry_after=wait,
        )

    @staticmethod
    def _miss_refresh_due(kept: dict[str, Any]) -> bool:
        """Whether a name missing from a whole listing is worth listing afresh for: only from a
        listing of every channel the bot may see, and at most every ``MISS_REFRESH_SECONDS``. A
        listing of public channels alone (no ``groups:read``) or a refused one misses private
        channels by nature, not by age: the name is posted to by name, and listed for again only
        when the listing itself is renewed (``IDS_CACHE_SECONDS``), not every minute, each time
        a public workspace of many pages."""
        if kept.get("public_only") or kept.get("may_not_list"):
            return False
        return time.time() - kept["at"] >= MISS_REFRESH_SECONDS

    def forget(self) -> None:
        """Drop the kept listing (a post into one of its ids found no such channel)."""
        cache.delete_many([self.key, self.renewal_key])

    @property
    def renewal_key(self) -> str:
        """Where a listing renewing the one kept goes on (a name missed: ``MISS_REFRESH_SECONDS``)
        until whole: the names listed before are still found meanwhile, not held back until a
        workspace of many pages is listed again over a few attempts."""
        return self.key + ":renewal"

    def _listed(self, name: str, kept: dict[str, Any] | None) -> dict[str, Any]:
        """The listing once it names ``name`` or is whole: the first, unfinished, paged on; or a
        renewal of the one ``kept`` (paged on, or begun); or a new one (both kinds of channel,
        else public ones, else the refusal)."""
        unfinished = kept if kept is not None and kept.get("cursor") else None
        into = self.key if kept is None or unfinished is not None else self.renewal_key
        if unfinished is None and kept is not None:
            unfinished = cache.get(self.renewal_key)
            if unfinished is not None and name in unfinished["ids"]:
                return unfinished
        if unfinished is not None:
            try:
                return self._listing(unfinished, name, into)
            except AdapterError as error:
                if "missing_scope" not in error.message:
                    raise
                # A scope withdrawn since it began (dropped: ``_listing``): begun afresh below.
        for types in ("public_channel,private_channel", "public_channel"):
            begun = {"at": time.time(), "ids": {}, "types": types, "cursor": ""}
            try:
                listed = self._listing({**begun, "public_only": "private" not in types}, name, into)
            except AdapterError as error:
                if "missing_scope" not in error.message:
                    raise
                continue
            if listed["public_only"]:
                log.warning(
                    "The Slack bot token may not list private channels (missing_scope: it needs "
                    "groups:read): a private channel is posted to by name, which a rename between "
                    "attempts can double"
                )
            return listed
        log.warning(
            "The Slack bot token may not list channels (missing_scope: it needs channels:read, "
            "and groups:read for private ones): posting by channel name, which a rename "
            "between attempts can double"
        )
        refused = {"at": time.time(), "ids": {}, "may_not_list": True}
        cache.set(self.key, refused, timeout=IDS_CACHE_SECONDS)
        cache.delete(self.renewal_key)
        return refused

    def _listing(self, kept: dict[str, Any], name: str, into: str) -> dict[str, Any]:
        """Page on from ``kept``'s cursor until ``name`` is listed or no page is left, keeping
        what was listed (under ``into``: the listing's key, or its renewal's): a workspace of
        thousands of channels may take more pages than one attempt may request (``budget``; Slack
        may give fewer channels a page than asked), and the next attempt, or another delivery,
        goes on from there rather than from the start. Once whole, it is the listing kept."""
        self.listed_now = True
        while True:
            query = {"types": kept["types"], "exclude_archived": "true", "limit": LIST_PAGE}
            if kept["cursor"]:
                query["cursor"] = kept["cursor"]
            try:
                page = self._list_page(query)
            except OverBudget:
                self._keep_unfinished(kept, into)
                raise DeliveryBusy(
                    f"listing the Slack channels goes on in the next attempt ({len(kept['ids'])} "
                    f"listed, {name!r} not among them yet)"
                ) from None
            except AdapterError as error:
                # A cursor expired, or a scope withdrawn meanwhile (``missing_scope``): the next
                # attempt lists afresh. A 429 (Tier 2), a 5xx, a timeout: the pages before stand.
                if "invalid_cursor" in error.message or error.permanent:
                    cache.delete(into)
                else:
                    self._keep_unfinished(kept, into)
                raise
            listed = {channel["name"]: channel["id"] for channel in page.get("channels") or []}
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or ""
            kept = {**kept, "ids": {**kept["ids"], **listed}, "cursor": cursor}
            if not cursor:
                cache.set(self.key, kept, timeout=IDS_CACHE_SECONDS)
                if into != self.key:
                    cache.delete(into)
                return kept
            if name in kept["ids"]:
                cache.set(into, kept, timeout=IDS_CACHE_SECONDS)
                return kept

    def _keep_unfinished(self, kept: dict[str, Any], into: str) -> None:
        """Keep a listing stopped short of its end, to be paged on by the next attempt: Slack
        rate-limits ``conversations.list`` (Tier 2) and may refuse a large workspace's listing
        every few pages, so an attempt that listed them again from the start would never get
        further (https://api.slack.com/docs/rate-limits). Not one without a cursor: it would read
        as a whole listing."""
        if kept.get("cursor"):
            cache.set(into, kept, timeout=IDS_CACHE_SECONDS)
