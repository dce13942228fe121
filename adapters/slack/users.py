"""The Slack users a bot found for learners' e-mail addresses (``users.lookupByEmail``), kept a
while in this process, per workspace (API base and bot token): a batch of direct messages for
learners looked up lately spends no look-up on them, and none of the method's rate limit, which
Slack counts per method and workspace (https://api.slack.com/apis/rate-limits,
https://api.slack.com/methods/users.lookupByEmail).

What stands in for a person is not for ever, so neither is what is kept:

- a user found, ``USER_CACHE_SECONDS`` (the channel listing's time: ``channels.IDS_CACHE_SECONDS``);
  an address Slack knows no user for (``users_not_found``), ``MISSING_CACHE_SECONDS``, less: a
  learner given a Slack account is told within a minute;
- an address re-assigned in Slack within that time is the channel cache's risk (a name given to
  another channel): the remembered account is posted to. The answer is kept with the name the LMS
  gives the learner, so an address the LMS gives someone else (named otherwise) is looked up
  afresh; and a post into a remembered account that finds no such conversation any more (the old
  account deactivated, ``CONVERSATION_GONE``) drops the answer and is retried on a fresh one
  (``SlackAdapter.send``);
- a Slack user id is personal data: the process forgets them all when a person is erased
  (``forget``, registered by ``adapters.apps``). No address is kept, only a digest of it with the
  workspace and the name, and none is logged.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict

USER_CACHE_SECONDS = 600
MISSING_CACHE_SECONDS = 60
MOST_KEPT = 10_000  # the oldest go first beyond (a process's memory is no directory)
# What a post into a remembered user answers when that account takes no message any more.
CONVERSATION_GONE = frozenset({"channel_not_found", "user_not_found", "user_disabled", "is_archived"})

_NOT_FOUND = ""
_kept: OrderedDict[str, tuple[float, str]] = OrderedDict()  # key -> (until, user id or _NOT_FOUND)
_lock = threading.Lock()


def key_for(api_base: str, bot_token: str, email: str, name: str) -> str:
    """The digest an answer is kept under: the workspace (as ``channels.ChannelIds``: two targets
    share answers only with one token), the address (Slack matches it without case) and the name."""
    return hashlib.sha256(f"{api_base}|{bot_token}|{email.lower()}|{name}".encode()).hexdigest()


def remembered(key: str) -> tuple[bool, str | None]:
    """Whether an answer is kept for ``key``, and which: the user id, or None (not in Slack)."""
    with _lock:
        kept = _kept.get(key)
        if kept is None:
            return False, None
        if kept[0] <= time.monotonic():
            del _kept[key]
            return False, None
        return True, kept[1] or None


def remember(key: str, user_id: str | None) -> None:
    seconds = USER_CACHE_SECONDS if user_id else MISSING_CACHE_SECONDS
    with _lock:
        _kept[key] = (time.monotonic() + seconds, user_id or _NOT_FOUND)
        _kept.move_to_end(key)
        while len(_kept) > MOST_KEPT:
            _kept.popitem(last=False)


def drop(key: str) -> None:
    with _lock:
        _kept.pop(key, None)


def forget() -> None:
    """Forget every answer (a person was erased: ``lrs.statements.erasure``)."""
    with _lock:
        _kept.clear()
