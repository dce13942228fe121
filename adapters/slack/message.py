"""What a Slack notification says, as Block Kit takes it: a section with the sentence (the
message's ``text`` too, its notification fallback) and a context line with the activity's id.

Slack refuses a text object over 3,000 characters (``invalid_blocks``, on every attempt:
https://api.slack.com/reference/block-kit/composition-objects#text), counted after mrkdwn escaping,
and xAPI sets no length on an activity's name (the LRS keeps ids of up to 2,048 bytes, which
escaping may take past it): names are cut to their beginning (``shortened``), and further when
their escaped form still does not fit. Slack does not say how it counts characters, so they are
counted as the most any count makes of them (``slack_chars``: UTF-16 code units, an emoji beyond
the Basic Multilingual Plane two): a name of emoji and ampersands is never refused.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from adapters.rules.notifications import NO_NAME, Notification, fitting, shortened

TEXT_OBJECT_CHARS = 3000


def mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_chars(text: str) -> int:
    """``text``'s length as Slack may count it: in UTF-16 code units, never fewer than its code
    points (a character beyond the Basic Multilingual Plane is two)."""
    return len(text.encode("utf-16-le")) // 2


def message(note: Notification, *, pseudonymised: bool) -> tuple[str, list[dict[str, Any]]]:
    """(text, blocks) of the notification; the text is mrkdwn too (notifications show it):
    escaped like the blocks, so a learner named "<!channel>" mentions no one."""
    note = shortened(replace(note, learner=NO_NAME) if pseudonymised else note)
    text = mrkdwn(note.text)
    if slack_chars(text) > TEXT_OBJECT_CHARS:  # escaped characters, or emoji, count several
        rest = slack_chars(text) - slack_chars(mrkdwn(note.activity))
        room = TEXT_OBJECT_CHARS - rest
        note = replace(note, activity=fitting(note.activity, room, mrkdwn, slack_chars))
        text = mrkdwn(note.text)
    activity_id = mrkdwn(fitting(note.activity_id, TEXT_OBJECT_CHARS, mrkdwn, slack_chars))
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": activity_id}]},
    ]
    return text, blocks
