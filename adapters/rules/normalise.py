"""Normalisation of xAPI statement values for downstream systems, one function per concept.

Statements arrive exactly as ``GET /xapi/statements`` serves them (xAPI 1.0.3 or
2.0). Every function here is pure: no Django, no database, no I/O.

xAPI 1.0.3 Data: https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md

* Timestamps, Data 4.5 (#45-iso-8601-timestamps): "A Timestamp MUST be formatted
  according to ISO 8601", "SHOULD* include the time zone", "MAY be truncated or
  rounded to a precision of at least 3 decimal digits for seconds".
* Durations, Data 4.6 (#46-iso-8601-durations): ISO 8601:2004(E) 4.4.3.2 only.
* Score, Data 2.4.5.1 (#2451-score): ``scaled`` in -1..1, ``raw`` between ``min``
  and ``max`` when those are present.
* Language maps, Data 4.2 (#42-language-maps): RFC 5646 tag -> string.
* Actor, Data 2.4.2 (#242-actor); Activity, Data 2.4.4.1
  (#2441-when-the-objecttype-is-activity).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from lrs.xapi.timestamps import read_timestamp

# --- timestamps ---------------------------------------------------------------------------------------


def utc_iso8601(value: str | datetime) -> str:
    """The instant as ``YYYY-MM-DDTHH:MM:SS.sssZ`` in UTC, milliseconds truncated (never rounded).

    Accepts what an xAPI 1.0.3 or 2.0 LRS accepts (Data 4.5, #45-iso-8601-timestamps):
    ISO 8601 extended (``2024-05-04T17:00:00.123456789+05:30``) or basic
    (``20240504T170000Z``) format; seconds optional; a fraction of any precision with
    ``.`` or ``,`` (on the lowest-order component present); offset ``Z``, ``±hh``,
    ``±hhmm`` or ``±hh:mm``; ``T``/``Z`` in either case; a space instead of ``T``
    (RFC 3339 5.6 note). Read leniently, as a consumer should:

    * no offset -> the time is taken to be UTC (1.0.3 only says SHOULD* include one);
    * ``-00:00`` (RFC 3339's "UTC, local offset unknown") -> UTC;
    * a leap second ``23:59:60`` -> ``23:59:59.999``.

    An aware ``datetime`` is converted to UTC, a naive one taken to be UTC.
    Raises ValueError naming the value for anything else (including non-strings).
    """
    moment = read_timestamp(value)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


def utc_date(value: str | datetime) -> str:
    """The UTC calendar date (``YYYY-MM-DD``) of an xAPI timestamp, read as :func:`utc_iso8601` reads it.

    ``2024-05-04T23:30:00-08:00`` is ``2024-05-05`` (07:30 UTC the next day).
    """
    return utc_iso8601(value)[:10]


# --- durations ----------------------------------------------------------------------------------------

_NUMBER = r"(\d+(?:[.,]\d+)?)"
_DURATION = re.compile(
    rf"P(?!\Z)(?:{_NUMBER}Y)?(?:{_NUMBER}M)?(?:{_NUMBER}D)?"
    rf"(?:T(?=\d)(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?\Z",
    re.ASCII,
)
_WEEKS = re.compile(rf"P{_NUMBER}W\Z", re.ASCII)
_DAY = 86_400.0
#: Seconds per component of PnYnMnDTnHnMnS: a year is 365 days and a month 30 days.
_DURATION_UNITS = (365 * _DAY, 30 * _DAY, _DAY, 3_600.0, 60.0, 1.0)


def duration_seconds(value: str) -> float:
    """The length of an xAPI duration (``result.duration``) in seconds.

    Data 4.6 (#46-iso-8601-durations) allows ISO 8601:2004(E) 4.4.3.2 only:
    ``PnYnMnDTnHnMnS`` (components optional, at least one present, ``T`` followed by
    at least one time component) or ``PnW`` on its own; only the lowest-order component
    present may carry a fraction (``.`` or ``,``). Calendar components have no fixed
    length, so this uses a year of **365 days** and a month of **30 days** (a week is 7
    days). ``PT1H30M`` -> 5400.0, ``P1W`` -> 604800.0, ``PT4.25S`` -> 4.25.

    Negative durations, the alternative format (``P0001-02-03T...``) and ``P16559.14S``
    (no ``T``) are rejected, as the LRS rejects them: ValueError naming the value.
    """
    if not isinstance(value, str):
        raise ValueError(f"not an ISO 8601 duration: {value!r} (a {type(value).__name__}, not a string)")
    text = value.strip()
    weeks = _WEEKS.match(text)
    if weeks is not None:
        return float(weeks.group(1).replace(",", ".")) * 7 * _DAY
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"not an ISO 8601 duration: {value!r}; expected e.g. PT1H30M, PT4.25S or P2W")
    present = [(group, unit) for group, unit in zip(match.groups(), _DURATION_UNITS, strict=True) if group]
    if any("." in group or "," in group for group, _ in present[:-1]):
        raise ValueError(
            f"not an ISO 8601 duration: {value!r}; only the lowest-order component may have a fraction"
        )
    return sum(float(group.replace(",", ".")) * unit for group, unit in present)


# --- scores -------------------------------------------------------------------------------------------


def _number(value: object) -> float | None:
    """A finite int or float (not a bool) as float, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def score_0_100(score: dict[str, Any] | None) -> float | None:
    """A result score (Data 2.4.5.1, #2451-score) as a percentage 0..100, rounded to 2 decimals.

    In order of preference:

    1. ``scaled`` (-1..1): ``scaled * 100``; a negative scaled score becomes 0.
    2. ``raw`` with ``max`` (and ``min``, read as 0 when absent): ``(raw - min) / (max - min) * 100``.
    3. ``raw`` alone when 0 <= raw <= 100: **assumed to already be a percentage** (the
       spec leaves an unbounded raw score's scale undefined; anything outside 0..100
       cannot be a percentage and gives None).
    4. Otherwise None (no score, or nothing usable in it).

    Out-of-range inputs (a raw score beyond min/max) are clamped, so the result is
    never outside 0..100. Booleans, NaN and infinities are ignored.
    """
    if not isinstance(score, dict):
        return None
    scaled = _number(score.get("scaled"))
    raw = _number(score.get("raw"))
    low, high = _number(score.get("min")), _number(score.get("max"))
    if scaled is not None:
        percent = scaled * 100
    elif raw is not None and high is not None and high > (low if low is not None else 0.0):
        low = low if low is not None else 0.0
        percent = (raw - low) / (high - low) * 100
    elif raw is not None and 0 <= raw <= 100:
        percent = raw
    else:
        return None
    return round(min(100.0, max(0.0, percent)), 2) + 0.0  # + 0.0 turns -0.0 into 0.0


# --- paths ---------------------------------------------------------------------------------------------

_PATH = re.compile(r"(?:[^.\[\]]+|\[[^\]]+\])(?:\.[^.\[\]]+|\[[^\]]+\])*\Z")
_SEGMENT = re.compile(r"([^.\[\]]+)|\[([^\]]+)\]")


def path_segments(path: str) -> list[str] | None:
    """The keys of a path into a statement: ``context.extensions[https://x.org/a.b]`` ->
    ``["context", "extensions", "https://x.org/a.b"]`` (brackets hold keys containing dots,
    such as extension IRIs, Data 4.1 #41-extensions), ``parent[0]`` -> ``["parent", "0"]``,
    ``$`` (the whole document) -> ``[]`` (``$.a`` is ``a``); None when the path is malformed."""
    if path == "$":
        return []
    if isinstance(path, str) and path[:2] in ("$.", "$["):  # JSONPath-style root prefix
        path = path[2:] if path[1] == "." else path[1:]
    if not isinstance(path, str) or _PATH.match(path) is None:
        return None
    return [name or key for name, key in _SEGMENT.findall(path)]


def value_at(document: Any, path: str) -> Any:
    """The value at ``path`` (see :func:`path_segments`) in ``document``: dicts by key, lists by
    index; None when absent. ValueError for a malformed path."""
    segments = path_segments(path)
    if segments is None:
        raise ValueError(f"malformed path: {path!r} (e.g. result.score, context.extensions[<IRI>], $)")
    value = document
    for segment in segments:
        if isinstance(value, dict):
            value = value.get(segment)
        elif isinstance(value, list) and segment.isdigit() and int(segment) < len(value):
            value = value[int(segment)]
        else:
            return None
    return value


# --- completion ---------------------------------------------------------------------------------------

#: ADL verbs that mean the learning was completed (Data 2.4.3, #243-verb).
COMPLETION_VERBS = frozenset(
    f"http://adlnet.gov/expapi/verbs/{name}" for name in ("completed", "passed", "mastered")
)


def learning_completed(value: dict[str, Any] | str | bool) -> bool:
    """Whether a statement records completed learning: its verb is ADL completed, passed or
    mastered, or ``result.completion`` is true (Data 2.4.5, #245-result).

    Also takes a verb object or verb IRI (or the bare words ``completed``/``passed``/
    ``mastered``), or a boolean (``result.completion`` itself). ValueError for anything else.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value in COMPLETION_VERBS or value in ("completed", "passed", "mastered")
    if isinstance(value, dict) and ("verb" in value or "result" in value):
        result = value.get("result")
        if isinstance(result, dict) and result.get("completion") is True:
            return True
        value = value.get("verb")
    if isinstance(value, dict):
        return value.get("id") in COMPLETION_VERBS
    raise ValueError(f"expected a statement, verb or boolean, got {type(value).__name__}")


# --- language maps and display names -----------------------------------------------------------------


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _subtags(tag: str) -> list[str]:
    return tag.lower().replace("_", "-").split("-")


def _closeness(key: str, wanted: list[str]) -> tuple[int, int, str]:
    """Sort key among same-language tags: most leading subtags shared, then fewest subtags, then key."""
    tags = _subtags(key)
    shared = 0
    for have, want in zip(tags, wanted, strict=False):
        if have != want:
            break
        shared += 1
    return (-shared, len(tags), key)


def display_name(language_map: dict[str, Any] | None, preferred: Sequence[str], fallback: str = "") -> str:
    """The string of a language map (Data 4.2, #42-language-maps) best suited to the preferred languages.

    The preferred tags are tried in order; for each one:

    1. the exact tag (case-insensitive, as RFC 5646 tags are);
    2. else a tag with the same primary subtag (``en`` finds ``en-GB``, ``en-US`` finds ``en``),
       the one sharing most leading subtags winning, then the shorter, then the first in sorted order.

    When no preferred tag matches: ``und`` (undetermined), then the first entry in sorted
    key order, then ``fallback``. The preference order dominates: with ``["fr", "en"]`` a
    ``fr-CA`` entry beats an exact ``en`` one, as a French reader would want. Entries whose
    value is not a non-blank string are ignored; values are returned stripped.
    """
    if not isinstance(language_map, dict):
        return fallback
    entries = {
        "-".join(_subtags(key)): (key, text)
        for key, value in language_map.items()
        if isinstance(key, str) and (text := _text(value)) is not None
    }
    if not entries:
        return fallback
    for tag in [preferred] if isinstance(preferred, str) else preferred:
        if not isinstance(tag, str) or not tag.strip():
            continue
        wanted = _subtags(tag.strip())
        if "-".join(wanted) in entries:
            return entries["-".join(wanted)][1]
        candidates = [key for key in entries if _subtags(key)[0] == wanted[0]]
        if candidates:
            return entries[min(candidates, key=lambda key, wanted=wanted: _closeness(key, wanted))][1]
    if "und" in entries:
        return entries["und"][1]
    return min(entries.values(), key=lambda entry: entry[0])[1]


def activity_name(statement: dict[str, Any], preferred: Sequence[str] = ()) -> str:
    """The display name of the statement's Activity: ``object.definition.name`` in the preferred
    language (see :func:`display_name`), falling back to the activity ``id``.

    Data 2.4.4.1 (#2441-when-the-objecttype-is-activity). An object that is not an
    Activity (an Agent, Group, StatementRef or SubStatement) has no activity name: "".
    """
    obj = statement.get("object") if isinstance(statement, dict) else None
    if not isinstance(obj, dict) or obj.get("objectType", "Activity") != "Activity":
        return ""
    activity_id = obj.get("id") if isinstance(obj.get("id"), str) else ""
    definition = obj.get("definition")
    names = definition.get("name") if isinstance(definition, dict) else None
    return display_name(names, preferred, fallback=activity_id)


def _agent_display(agent: object) -> str:
    if not isinstance(agent, dict):
        return ""
    name = _text(agent.get("name"))
    if name is not None:
        return name
    mbox = _text(agent.get("mbox"))
    if mbox is not None:
        return mbox[7:] if mbox[:7].lower() == "mailto:" else mbox
    account = agent.get("account")
    account_name = _text(account.get("name")) if isinstance(account, dict) else None
    if account_name is not None:
        return account_name
    openid = _text(agent.get("openid"))
    if openid is not None:
        return openid
    members = agent.get("member") if agent.get("objectType") == "Group" else None
    if isinstance(members, list):
        return ", ".join(text for member in members if (text := _agent_display(member)))
    return ""


def actor_display(statement: dict[str, Any]) -> str:
    """How to show the statement's actor (Data 2.4.2, #242-actor) to a person.

    ``name``, else the ``mbox`` address without ``mailto:`` (as written: this is for
    display, see :func:`adapters.rules.emails.normalise_email` for matching), else
    ``account.name``, else ``openid``. An anonymous Group (no name, no identifier;
    Data 2.4.2.2, #2422-when-the-actor-objecttype-is-group) shows its members, joined
    with ", ". An actor with none of these (``mbox_sha1sum`` only) gives "".
    """
    return _agent_display(statement.get("actor") if isinstance(statement, dict) else None)
