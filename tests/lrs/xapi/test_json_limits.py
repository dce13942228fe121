"""JSON nesting limit (RFC 8259 section 9), checked before parsing: lrs.xapi.json_limits."""

from __future__ import annotations

import json

import pytest

from lrs.xapi.documents import parse_json_document
from lrs.xapi.json_limits import DEFAULT_MAX_DEPTH, exceeds, max_depth, max_depth_set, nesting_depth
from lrs.xapi.json_types import parse_json
from tests.lrs.xapi.examples import assert_rejected, cmi5_completed


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [1, 5, 99, 100])
def test_nesting_up_to_the_limit_does_not_exceed_it(depth):
    assert not exceeds(nested(depth), 100)
    assert not exceeds(nested(depth).encode(), 100)


@pytest.mark.parametrize("depth", [101, 1000, 100_000])
def test_nesting_beyond_the_limit_exceeds_it(depth):
    assert exceeds(nested(depth), 100)
    assert exceeds(nested(depth).encode(), 100)


def test_many_shallow_containers_do_not_exceed_the_limit():
    batch = json.dumps([cmi5_completed() for _ in range(500)])
    assert batch.count("{") > 1000
    assert not exceeds(batch, 20)


def test_brackets_in_strings_and_escaped_quotes_are_not_nesting():
    text = json.dumps({"a": "[" * 500 + '"' + "{" * 500, "b": ["\\", "[[[[", '\\"[']})
    assert not exceeds(text, 3)


def test_unbalanced_text_is_left_to_the_parser_unless_it_really_nests_deeply():
    truncated = json.dumps([{"a": [1, 2]} for _ in range(300)])[:1500]
    assert not exceeds(truncated, 10)
    assert exceeds("[" * 50, 10)


def test_nesting_depth_counts_the_deepest_branch():
    assert nesting_depth(b"") == 0
    assert nesting_depth(b"[{}[[]]]") == 3
    assert nesting_depth(b"]][[") == 2


def test_parse_json_rejects_deep_nesting_naming_the_limit_and_the_setting():
    error = assert_rejected(
        lambda: parse_json(nested(5000), path="statement"), path="statement", rule="json-depth"
    )
    assert error.message == f"JSON nested deeper than {DEFAULT_MAX_DEPTH} levels (LRS_MAX_JSON_DEPTH)"


def test_json_documents_are_held_to_the_same_limit():
    assert_rejected(
        lambda: parse_json_document(b'{"a":' * 200 + b"1" + b"}" * 200, path="body"),
        path="body",
        rule="json-depth",
    )


def test_the_limit_is_set_per_context():
    try:
        max_depth_set(3)
        assert max_depth() == 3
        assert parse_json("[[[]]]") == [[[]]]
        assert_rejected(lambda: parse_json("[[[[]]]]", path="agent"), path="agent", rule="json-depth")
    finally:
        max_depth_set(DEFAULT_MAX_DEPTH)
