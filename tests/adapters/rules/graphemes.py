"""Texts hard to cut between grapheme clusters, and where their clusters start, for the property
tests of names cut for chat targets (test_cut_names.py). Unicode's own segmentation (UAX #29,
https://www.unicode.org/reports/tr29/) is the ``wcwidth`` package's, which the adapters do not
use: a test's oracle, not the rule under test."""

from __future__ import annotations

from hypothesis import strategies as st
from wcwidth import iter_graphemes

TAGS = st.lists(st.integers(min_value=0xE0020, max_value=0xE007E).map(chr), min_size=1, max_size=6)
PIECES = st.one_of(
    st.sampled_from(["a", "Z", " ", "&", "<", "\r", "\n", "\r\n", "e\u0301", "\u0301", "\u200d", "\u200c"]),
    # Flags: a pair of regional indicators, or a black flag and its tag sequence (England, ...).
    st.integers(min_value=0x1F1E6, max_value=0x1F1FF).map(chr),
    TAGS.map(lambda tags: "\U0001f3f4" + "".join(tags) + "\U000e007f"),
    TAGS.map("".join),  # tags without a base, or a cancel tag missing
    # Hangul: conjoining jamo (L, V, T; archaic extensions too) and precomposed LV / LVT syllables.
    st.integers(min_value=0x1100, max_value=0x11FF).map(chr),
    st.integers(min_value=0xA960, max_value=0xA97C).map(chr),
    st.integers(min_value=0xD7B0, max_value=0xD7FB).map(chr),
    st.integers(min_value=0xAC00, max_value=0xD7A3).map(chr),
    # Emoji: with a skin tone, joined (a family), with a presentation selector.
    st.sampled_from(["\U0001f469", "\U0001f3fd", "\U0001f44d\U0001f3fd", "\u2764\ufe0f", "\U0001f389"]),
    st.just("\U0001f468\u200d\U0001f469\u200d\U0001f467"),
)


def hard_texts(max_pieces: int = 20) -> st.SearchStrategy[str]:
    return st.lists(PIECES, min_size=1, max_size=max_pieces).map("".join)


def grapheme_starts(text: str) -> list[int]:
    """Every index a grapheme cluster of ``text`` starts at, and its end."""
    starts = [0]
    for cluster in iter_graphemes(text):
        starts.append(starts[-1] + len(cluster))
    return starts
