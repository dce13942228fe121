"""The orjson fast path reads exactly what the standard library reads, or steps aside."""

from __future__ import annotations

import json
import math
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrs.xapi.errors import XAPIValidationError
from lrs.xapi.json_fast import parse_fast, parse_stored
from lrs.xapi.json_types import parse_json

# Examples per property; LRS_JSON_FAST_EXAMPLES raises them (a longer run) or lowers them.
EXAMPLES = int(os.environ.get("LRS_JSON_FAST_EXAMPLES", "400"))

# Keys drawn from a small alphabet so that generated objects often share keys across levels, and
# strings full of the characters the member count must see through.
_keys = st.text(alphabet='ab:"\\{}[],', max_size=4)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)
    | st.text(alphabet='x:"\\\n\t/', max_size=8)
)
_values = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_keys, children, max_size=4),
    max_leaves=25,
)


def _same(left: object, right: object) -> bool:
    """Equal and of the same types all the way down (``1 == 1.0`` is not enough here)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return list(left) == list(right) and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(_same(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, float) and math.isnan(left):
        return math.isnan(right)
    return left == right


@settings(max_examples=EXAMPLES, deadline=None)
@given(_values, st.booleans())
def test_fast_path_reads_what_the_standard_library_reads(value, spaced):
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": ") if spaced else (",", ":"))
    parsed = parse_fast(text)
    if parsed is not None or value is None:
        assert _same(parsed, json.loads(text))


@settings(max_examples=max(1, EXAMPLES * 3 // 4), deadline=None)
@given(st.dictionaries(_keys, _values, min_size=1, max_size=4), st.data())
def test_a_duplicated_property_anywhere_sends_the_text_to_the_careful_parser(obj, data):
    key = data.draw(st.sampled_from(sorted(obj)))
    members = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in obj.items())
    duplicated = "{" + members + f", {json.dumps(key)}: 1" + "}"
    text = data.draw(st.sampled_from(["%s", '{"wrapper": [%s]}', "[1, %s]"])) % duplicated
    assert parse_fast(text) is None
    with pytest.raises(XAPIValidationError) as caught:
        parse_json(text)
    assert caught.value.rule == "duplicate-property"


def test_colons_inside_strings_do_not_hide_a_duplicate_but_an_escaped_colon_goes_the_careful_way():
    text = r'{"a:b": "http://x", "c\"d:": {"e": "\\", "f": ":"}, "g": [":", {"h": 1}]}'
    assert parse_fast(text) == json.loads(text)
    # One member dropped, one colon spelt \u003a: the plain count would come out even.
    assert parse_fast(r'{"a": 1, "a": 2, "b": "\u003a"}') is None


@pytest.mark.parametrize(
    "text",
    [
        "123456789012345678901234567890",  # beyond 64 bits: orjson would read a float
        '{"n": -9223372036854775809}',
        '"\\ud800"',  # unpaired surrogate escapes: the careful path names them
        '{"a": "\\udc00x"}',
        "NaN",
        "1E400",
        '{"a": 1, "a": 2}',
        "\ufeff{}",
        "null",
    ],
)
def test_texts_orjson_could_read_differently_take_the_careful_path(text):
    assert parse_fast(text) is None


def test_big_integers_keep_every_digit():
    assert parse_json('{"n": 123456789012345678901234567890}') == {"n": 123456789012345678901234567890}


@settings(max_examples=EXAMPLES, deadline=None)
@given(_values, st.booleans())
def test_stored_text_reads_as_the_standard_library_reads_it(value, infinite):
    # What the store wrote (compact_json: orjson, or the standard library for an integer beyond 64
    # bits); before the rule number-range that could include Infinity, which orjson refuses.
    text = json.dumps([value, math.inf] if infinite else value, ensure_ascii=False, separators=(",", ":"))
    assert _same(parse_stored(text), json.loads(text))
