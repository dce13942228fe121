"""What a Slack notification says, as Block Kit takes it: a section with the sentence (the
message's ``text`` too, its notification fallback) and a context line with the activity's id.

Slack refuses a text object over 3,000 characters (``invalid_blocks``, on every attempt:
https://api.slack.com/reference/block-kit/composition-objects#text), counted after mrkdwn escaping,
and xAPI sets no length on an activity's name (the LRS keeps ids of up to 2,048 bytes, which
escaping may take past it): names are cut to their beginning (``shortened``), and further when
their escaped form still does not fit.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from adapters.rules.notifications import NO_NAME, Notification, fitting, shortened

TEXT_OBJECT_CHARS = 3000


def mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def message(note: Notification, *, pseudonymised: bool) -> tuple[str, list[dict[str, Any]]]:
    """(text, blocks) of the notification; the text is mrkdwn too (notifications show it):
    escaped like the blocks, so a learner named "<!channel>" mentions no one."""
    note = shortened(replace(note, learner=NO_NAME) if pseudonymised else note)
    text = mrkdwn(note.text)
    if len(text) > TEXT_OBJECT_CHARS:  # a name of characters escaping takes several for
        rest = len(text) - len(mrkdwn(note.activity))
        note = replace(note, activity=fitting(note.activity, TEXT_OBJECT_CHARS - rest, mrkdwn))
        text = mrkdwn(note.text)
    activity_id = mrkdwn(fitting(note.activity_id, TEXT_OBJECT_CHARS, mrkdwn))
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": activity_id}]},
    ]
    return text, blocks
