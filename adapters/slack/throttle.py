"""Slack's rate limits, as a bot's look-ups and posts meet them: per Web API method and workspace.

Slack limits each method on its own, per workspace and app, by the method's tier
(``conversations.list`` Tier 2, ``conversations.history`` and ``users.lookupByEmail`` Tier 3...),
and answers a call over it HTTP 429 with ``Retry-After``, the seconds to wait before calling
*that method* again (https://api.slack.com/apis/rate-limits). So a 429 on a look-up says nothing of
the others, nor of ``chat.postMessage``: a post into a channel by its id, needing no look-up, goes
on. What it does say is kept here, in the shared cache (every worker's drains of the workspace see
it), until Retry-After has passed: a look-up by that method meanwhile asks nothing and raises
``Throttled``, a ``DeliveryBusy`` that puts its delivery back until then without counting an
attempt, nor a failure of the target (its breaker is for a target that fails, and a limited
method is not one). ``chat.postMessage`` is held the same way (Slack's "special" tier: about a
post a second per channel, and a workspace-wide limit; a 429 says not which, so every post of the
workspace waits: a second or so for a channel's limit, its Retry-After, costs little), checked
before a post's look-ups and again before the post. The delivery whose own request was answered
429 is a failed attempt, retried after Retry-After as any is, but not counted by the target's
breaker either (``AdapterError.throttled``).

The token is in the key only as a digest (as ``channels.ChannelIds``): two targets share the
limits only with one token, as Slack counts them.
"""

from __future__ import annotations

import hashlib
import math
import time

from django.core.cache import cache

from adapters.base import DeliveryBusy

# A 429 without Retry-After (Slack sends one): a minute, the window Slack's tiers are counted in.
THROTTLED_SECONDS = 60.0


class Throttled(DeliveryBusy):
    """A look-up not asked: Slack asked for its method to wait (``retry_after`` seconds more)."""


def key_for(api_base: str, bot_token: str, method: str) -> str:
    workspace = hashlib.sha256(f"{api_base}|{bot_token}".encode()).hexdigest()
    return f"lrs:slack-throttled:{workspace}:{method}"


def check(api_base: str, bot_token: str, method: str) -> None:
    """Raise ``Throttled`` while Slack's Retry-After for ``method`` has not passed."""
    until = cache.get(key_for(api_base, bot_token, method))
    wait = (until or 0.0) - time.time()
    if wait > 0:
        raise Throttled(f"not asked: Slack throttled {method} (429), {wait:.0f} s to wait", retry_after=wait)


def hold(api_base: str, bot_token: str, method: str, retry_after: float | None) -> None:
    """Slack answered ``method`` 429: no call of it until ``retry_after`` seconds have passed
    (``THROTTLED_SECONDS`` without one). A longer hold already kept stands."""
    seconds = THROTTLED_SECONDS if retry_after is None else retry_after
    if seconds <= 0:  # "Retry-After: 0": call again at once
        return
    key = key_for(api_base, bot_token, method)
    until = max(time.time() + seconds, cache.get(key) or 0.0)
    cache.set(key, until, timeout=math.ceil(until - time.time()) + 1)
