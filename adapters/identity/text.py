"""Whether a piece of identity text can be stored at all: PostgreSQL text holds no NUL character
(a DataError) and UTF-8 no lone surrogate (a JSON ``"\\ud800"`` escape, or a file byte Python read
with ``surrogateescape``: a UnicodeEncodeError). Either, left to the database, failed the whole
request or file with a 500 or a traceback; checked here, the caller refuses the one value by name.
"""

from __future__ import annotations

import re

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def unstorable(value: str) -> str | None:
    """Why ``value`` cannot be stored (the rule, for ``<field>: <rule>``), or None."""
    if "\x00" in value:
        return "contains a NUL character (U+0000), which cannot be stored"
    if _LONE_SURROGATE.search(value):
        return "contains an unpaired surrogate (U+D800-U+DFFF), which is not a Unicode character"
    return None
