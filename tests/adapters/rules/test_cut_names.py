"""Names cut for chat targets (adapters/rules/notifications.py ``beginning``, ``fitting``): never
longer than asked, never half a character as a reader sees it."""

from __future__ import annotations

import os
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.rules.notifications import ELLIPSIS, beginning, fitting
from tests.adapters.rules.graphemes import grapheme_starts, hard_texts

AMP = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
ENGLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
HANGUL = "\u1112\u1161\u11ab\u1100\u1173\u11af"  # "Hangeul", decomposed: 6 code points, 2 syllables


def escape(text: str) -> str:
    return "".join(AMP.get(char, char) for char in text)


def test_a_name_within_the_limit_is_kept_whole():
    assert beginning("Safety 101", 10) == "Safety 101"


def test_a_long_name_keeps_its_beginning_and_an_ellipsis():
    assert beginning("Arbeitssicherheit", 8) == "Arbeits" + ELLIPSIS


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("Cafe\u0301 au lait", 5, "Caf"),  # the accent stays with its letter: both go
        ("ok \U0001f468\u200d\U0001f469\u200d\U0001f467 family", 7, "ok"),  # a ZWJ family emoji
        ("hi \U0001f44d\U0001f3fd there", 5, "hi"),  # a thumbs-up and its skin tone
        ("\U0001f1e9\U0001f1ea\U0001f1eb\U0001f1f7 flags", 4, "\U0001f1e9\U0001f1ea"),  # DE kept, FR split
        ("\u2764\ufe0f love", 2, ""),  # a heart and its emoji presentation selector
        ("go " + ENGLAND + " now", 5, "go"),  # a flag of tag characters (black flag, tags, cancel tag)
        ("ok " + HANGUL + " text", 5, "ok"),  # Hangul in conjoining jamo: an L, a V and a T make one
        ("ok \u1100\u1161 \uac00\u11a8", 7, "ok \u1100\u1161"),  # a syllable and its trailing T
        ("line\r\nnext", 5, "line"),  # CR LF is one
    ],
)
def test_a_cut_never_splits_a_character_as_a_reader_sees_it(text, limit, expected):
    assert beginning(text, limit) == expected + ELLIPSIS


def test_fitting_cuts_until_the_escaped_name_fits():
    name = "R&D <intro> " * 50
    cut = fitting(name, 100, escape)
    assert len(escape(cut)) <= 100 and cut.endswith(ELLIPSIS)
    assert len(escape(cut)) > 100 - len("&amp; ")  # as long as fits, give or take one character
    assert fitting("short", 100, escape) == "short"


@settings(max_examples=int(os.environ.get("LRS_CUT_NAME_EXAMPLES", "300")), deadline=None)
@given(text=st.text(min_size=1, max_size=60), limit=st.integers(min_value=1, max_value=60))
def test_a_cut_is_a_prefix_within_the_limit_not_ending_in_a_combining_mark(text, limit):
    cut = beginning(text, limit)
    if len(text) <= limit:
        assert cut == text
        return
    assert len(cut) <= limit and cut.endswith(ELLIPSIS)
    kept = cut.removesuffix(ELLIPSIS)
    assert text.startswith(kept)
    following = text[len(kept)]
    if kept and following.strip():  # (a text of marks alone has no whole character to keep)
        assert unicodedata.category(following) not in ("Mn", "Mc", "Me"), (text, cut)


@settings(max_examples=int(os.environ.get("LRS_CUT_NAME_EXAMPLES", "300")), deadline=None)
@given(text=hard_texts(), limit=st.integers(min_value=1, max_value=40))
def test_a_cut_never_splits_a_grapheme_cluster(text, limit):
    """Over texts of flags (regional indicators, tag sequences), conjoining Hangul jamo and
    precomposed syllables, emoji with skin tones and joiners, combining marks and CR LF: what is
    kept ends where a grapheme cluster ends, by Unicode's segmentation (UAX #29, as the ``wcwidth``
    package implements it), never within one."""
    cut = beginning(text, limit)
    if cut == text:
        return
    kept = cut.removesuffix(ELLIPSIS)
    assert any(text[:start].rstrip() == kept for start in grapheme_starts(text)), (text, cut)
