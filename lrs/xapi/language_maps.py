"""Language maps and RFC 5646 language tags.

xAPI 1.0.3 Data 4.2 (Language Maps): "A language map is a dictionary where the
key is a RFC 5646 Language Tag, and the value is a string in the language
specified in the tag." Data 2.2: "The LRS MUST at least validate that the
sequence of token lengths for language map keys matches the RFC 5646 standard."
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#42-language-maps
IEEE 9274.1.1 (xAPI 2.0) 4.2.7: "An LRS shall reject a Statement with invalid
RFC 5646 language tags".

Tags are checked against the full RFC 5646 section 2.1 ABNF (``langtag``,
``privateuse`` and the ``grandfathered`` tags), case-insensitively. That covers
the token-length rule; subtags are not looked up in the IANA registry. The
``language`` property of a context (Data 2.4.6) uses the same tag syntax.
"""

from __future__ import annotations

import re
from typing import Any

from lrs.xapi.json_types import fail, key_path, require_object, require_string, short, type_name

_ALNUM = "[A-Za-z0-9]"
_LANGTAG = (
    r"(?:[A-Za-z]{2,3}(?:-[A-Za-z]{3}){0,3}|[A-Za-z]{4}|[A-Za-z]{5,8})"  # language [-extlang]
    r"(?:-[A-Za-z]{4})?"  # script
    r"(?:-(?:[A-Za-z]{2}|[0-9]{3}))?"  # region
    rf"(?:-(?:{_ALNUM}{{5,8}}|[0-9]{_ALNUM}{{3}}))*"  # variants
    rf"(?:-[0-9A-WYZa-wyz](?:-{_ALNUM}{{2,8}})+)*"  # extensions (singleton other than x)
    rf"(?:-[xX](?:-{_ALNUM}{{1,8}})+)?"  # private use
)
_PRIVATEUSE = rf"[xX](?:-{_ALNUM}{{1,8}})+"
_IRREGULAR = (
    "en-GB-oed|i-ami|i-bnn|i-default|i-enochian|i-hak|i-klingon|i-lux|i-mingo|i-navajo|i-pwn|"
    "i-tao|i-tay|i-tsu|sgn-BE-FR|sgn-BE-NL|sgn-CH-DE"
)
_TAG = re.compile(rf"(?:{_LANGTAG}|{_PRIVATEUSE}|(?i:{_IRREGULAR}))\Z")


_CACHE_LIMIT = 2_000
_valid_tags: set[str] = set()  # well-formed tags seen recently; the same few recur in every statement


def _well_formed(tag: str) -> bool:
    if tag in _valid_tags:
        return True
    if _TAG.match(tag) is None:
        return False
    if len(_valid_tags) >= _CACHE_LIMIT:
        _valid_tags.clear()
    _valid_tags.add(tag)
    return True


def is_language_tag(value: object) -> bool:
    """True for a well-formed RFC 5646 language tag (``en``, ``en-US``, ``zh-Hant-TW``, ``tlh``)."""
    return type(value) is str and _well_formed(value)


def validate_language_tag(value: object, *, path: str) -> str:
    tag = require_string(value, path)
    if not _well_formed(tag):
        fail(f"must be an RFC 5646 language tag, got {short(tag)}", path, "language-tag")
    return tag


def validate_language_map(value: object, *, path: str) -> dict[str, Any]:
    """A JSON object whose keys are RFC 5646 tags and whose values are strings (rule ``language-map``)."""
    language_map = value if type(value) is dict else require_object(value, path)
    for key, text in language_map.items():
        if key not in _valid_tags and not _well_formed(key):
            fail(
                f"language map keys must be RFC 5646 language tags, got {short(key)}",
                key_path(path, key),
                "language-map",
            )
        if type(text) is not str:
            rule = "not-null" if text is None else "language-map"
            fail(f"language map values must be strings, got {type_name(text)}", key_path(path, key), rule)
    return language_map
