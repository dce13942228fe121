"""What chat notifications say, and whether they are said at all.

Shared by the Slack and Teams adapters. A chat channel is a wide audience, so outcomes are
private by default (data minimisation): only completions and passes are announced
(:func:`announcement`); a failed result, a score below the target's ``min_score``, or a bare
score is never posted to a channel (a target may opt in to telling the learner directly), and
the score itself is left out unless ``include_score`` is on. The learner is named by the
actor's ``name`` alone (:func:`learner_name`), never by an identifier such as an e-mail address.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from adapters.rules.competencies import is_failed
from adapters.rules.normalise import activity_name, learning_completed, score_0_100

Outcome = Literal["success", "failure", "score"]

ADL = "http://adlnet.gov/expapi/verbs/"
VERB_PHRASES = {
    ADL + "completed": "completed",
    ADL + "passed": "passed",
    ADL + "failed": "did not pass",
    ADL + "mastered": "mastered",
    ADL + "scored": "was scored on",
}


NO_NAME = "A learner"

# xAPI sets no length on a name (an LMS may put a course's description in it), while chat
# targets refuse a message over their limit on every attempt (Teams about 28 KB, Slack 3,000
# characters a Block Kit text object): a notification names them by their beginning.
MAX_ACTIVITY_CHARS = 1000
MAX_LEARNER_CHARS = 200
ELLIPSIS = "\u2026"
_ZERO_WIDTH_JOINER = "\u200d"
# Grapheme_Cluster_Break=Extend characters that are not marks (unicodedata has no such property):
# the zero-width non-joiner and the halfwidth katakana voiced sound marks; the tags, by range.
_EXTEND_ALSO = frozenset("\u200c\uff9e\uff9f")
_TAG_FIRST, _TAG_LAST = "\U000e0020", "\U000e007f"
# Which Hangul syllable types stay together (UAX #29, GB6-GB8): L before L, V, LV or LVT; LV or V
# before V or T; LVT or T before T.
_HANGUL_JOINS = frozenset(
    {
        *[("L", "L"), ("L", "V"), ("L", "LV"), ("L", "LVT")],
        *[("LV", "V"), ("LV", "T"), ("V", "V"), ("V", "T")],
        *[("LVT", "T"), ("T", "T")],
    }
)


# Something shaped like an e-mail address anywhere in a name ("jane@example.com", "Jane <jane@...>").
_ADDRESS = re.compile(r"[^\s@<>()]+@[^\s@<>()]+\.[^\s@<>()]+")


def learner_name(statement: dict) -> str:
    """What a chat notification calls the learner: the actor's ``name``, else "A learner". Never
    an identifier (``actor_display`` falls back to the e-mail address, the account name or the
    OpenID): a channel is a wide audience, and an actor without a name is common from an LMS. A
    name that is an identifier all the same (an LMS filling ``name`` with the login or the e-mail
    address) or holds an e-mail address is no name either."""
    actor = statement.get("actor")
    name = actor.get("name") if isinstance(actor, dict) else None
    if not isinstance(name, str) or not name.strip() or _ADDRESS.search(name):
        return NO_NAME
    account = actor.get("account") if isinstance(actor.get("account"), dict) else {}
    identifiers = {
        str(value).strip().casefold() for value in (account.get("name"), actor.get("openid")) if value
    }
    return NO_NAME if name.strip().casefold() in identifiers else name.strip()


@dataclass(frozen=True)
class Notification:
    learner: str
    phrase: str
    activity: str
    activity_id: str
    score: float | None  # None unless allowed

    @property
    def text(self) -> str:
        base = f"{self.learner} {self.phrase} {self.activity}"
        return f"{base} (score {self.score:g}/100)" if self.score is not None else base


def shortened(note: Notification) -> Notification:
    """The notification naming its learner and activity by at most their ``MAX_*_CHARS``."""
    return replace(
        note,
        learner=beginning(note.learner, MAX_LEARNER_CHARS),
        activity=beginning(note.activity, MAX_ACTIVITY_CHARS),
    )


def beginning(text: str, limit: int) -> str:
    """``text``, or its first characters and an ellipsis when it is longer than ``limit``; never
    half a character as a reader sees it (a letter without its accent, half an emoji sequence or
    flag, a Hangul syllable in jamo): the cut moves back before the character it would split
    (Unicode's grapheme clusters, https://www.unicode.org/reports/tr29/, by ``_continues``'s rule:
    no dependency has them; tests/adapters/rules checks it against UAX #29's segmentation)."""
    if len(text) <= limit:
        return text
    end = max(limit - 1, 0)
    while end > 0 and _continues(text, end):
        end -= 1
    return text[:end].rstrip() + ELLIPSIS


def _continues(text: str, at: int) -> bool:
    """Whether the character at ``at`` belongs with the one before it: a combining mark, a
    variation selector or an emoji modifier after its base, a tag of a flag's tag sequence (the
    England flag: a black flag, tags, a cancel tag), anything after a zero-width joiner, a
    conjoining Hangul jamo after the jamo or syllable it completes, the second regional indicator
    of a flag. Wherever Unicode keeps two characters together this says so (it may say so of a
    few Unicode would part: the cut then moves back a character more, never into a cluster)."""
    char, before = text[at], text[at - 1]
    if unicodedata.category(char) in ("Mn", "Mc", "Me", "Sk") and not char.isascii():
        return True
    if char in _EXTEND_ALSO or _TAG_FIRST <= char <= _TAG_LAST:
        return True
    if char == _ZERO_WIDTH_JOINER or before == _ZERO_WIDTH_JOINER:
        return True
    if (_jamo(before), _jamo(char)) in _HANGUL_JOINS:
        return True
    if _regional_indicator(char):
        run = 0  # a flag is a pair: the cut splits one after an odd run of indicators
        while at - run - 1 >= 0 and _regional_indicator(text[at - run - 1]):
            run += 1
        return run % 2 == 1
    return False


def _regional_indicator(char: str) -> bool:
    return "\U0001f1e6" <= char <= "\U0001f1ff"


def _jamo(char: str) -> str:
    """The Hangul syllable type of ``char`` (``L``, ``V``, ``T``, ``LV``, ``LVT``), "" for none:
    Unicode's Hangul_Syllable_Type, which ``unicodedata`` does not give."""
    point = ord(char)
    if 0x1100 <= point <= 0x115F or 0xA960 <= point <= 0xA97C:
        return "L"
    if 0x1160 <= point <= 0x11A7 or 0xD7B0 <= point <= 0xD7C6:
        return "V"
    if 0x11A8 <= point <= 0x11FF or 0xD7CB <= point <= 0xD7FB:
        return "T"
    if 0xAC00 <= point <= 0xD7A3:  # precomposed: 28 a leading consonant and vowel, one with no final
        return "LV" if (point - 0xAC00) % 28 == 0 else "LVT"
    return ""


def fitting(text: str, limit: int, escape: Callable[[str], str], measure: Callable[[str], int] = len) -> str:
    """The longest ``beginning`` of ``text`` that ``escape`` keeps within ``limit`` characters (an
    escaped character may take several: ``&amp;``), as the target counts them (``measure``: code
    points unless it says otherwise); empty if not even an ellipsis fits."""
    if measure(escape(text)) <= limit:
        return text
    low, high = 0, len(text)  # beginning(text, low) fits; beginning(text, high) does not
    while high - low > 1:
        middle = (low + high) // 2
        if measure(escape(beginning(text, middle))) <= limit:
            low = middle
        else:
            high = middle
    return beginning(text, low) if low else ""


def outcome(statement: dict) -> Outcome:
    """``failure`` (ADL failed, or ``result.success`` false), ``success`` (a completion or pass:
    ADL completed, passed or mastered, or ``result.completion`` true), else ``score`` (a scored
    attempt that says neither)."""
    if is_failed(statement):
        return "failure"
    return "success" if learning_completed(statement) else "score"


@dataclass(frozen=True)
class Announcement:
    """Where a notification may go: ``channel`` (anyone), ``learner`` (a direct message), or
    nowhere (``None``, ``reason`` says why)."""

    audience: Literal["channel", "learner"] | None
    reason: str = ""


def announcement(
    statement: dict, *, min_score: float | None = None, failures: str = "skip", announce_scores: bool = False
) -> Announcement:
    """Whether and to whom a statement is announced. ``failures``: what becomes of a failed
    result (or a score below ``min_score``): ``skip`` (default) or ``direct_message`` to the
    learner. ``announce_scores``: whether a bare score (neither completion nor pass) is announced."""
    kind = outcome(statement)
    score = score_0_100((statement.get("result") or {}).get("score"))
    below = min_score is not None and score is not None and score < min_score
    if kind == "score" and not announce_scores:
        return Announcement(None, "not announced: a score without a completion or pass (private by default)")
    if kind == "failure" or below:
        what = "a failed result" if kind == "failure" else f"a score below {min_score:g}"
        if failures == "direct_message":
            return Announcement("learner", f"{what}: told the learner only")
        return Announcement(None, f"not announced: {what} is private by default (failures: direct_message)")
    return Announcement("channel")


def configured_announcement(statement: dict, config: dict) -> Announcement:
    """``announcement`` with a chat target's configuration (``min_score``, ``failures``,
    ``announce_scores``)."""
    return announcement(
        statement,
        min_score=config.get("min_score"),
        failures=config.get("failures", "skip"),
        announce_scores=config.get("announce_scores", False),
    )


def notification_for(statement: dict, *, preferred_languages: list[str], include_score: bool) -> Notification:
    obj = statement["object"]
    if obj.get("objectType") == "SubStatement":
        obj = obj["object"]
    result = statement.get("result") or {}
    phrase = VERB_PHRASES.get(statement["verb"]["id"])
    if phrase is None:
        phrase = "completed" if result.get("completion") is True else "was scored on"
    return Notification(
        learner=learner_name(statement),
        phrase=phrase,
        activity=activity_name({**statement, "object": obj}, preferred_languages),
        activity_id=obj.get("id", ""),
        score=score_0_100(result.get("score")) if include_score else None,
    )
