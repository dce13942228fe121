"""Names cut for chat targets (adapters/rules/notifications.py ``beginning``, ``fitting``): never
longer than asked, never half a character as a reader sees it."""

from __future__ import annotations

import os
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.rules.notifications import ELLIPSIS, beginning, fitting

AMP = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


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
