"""Paths into statements and learning completion (xAPI 1.0.3 Data 4.1, 2.4.3, 2.4.5)."""

from __future__ import annotations

import pytest

from adapters.rules.normalise import learning_completed, path_segments, value_at
from tests.adapters.rules.statements import ADL, make_statement

BADGES = "https://lrs.example.org/xapi/extensions/badges"


@pytest.mark.parametrize(
    ("path", "segments"),
    [
        ("$", []),
        ("timestamp", ["timestamp"]),
        ("result.score.raw", ["result", "score", "raw"]),
        (f"context.extensions[{BADGES}]", ["context", "extensions", BADGES]),
        ("context.contextActivities.parent[0].id", ["context", "contextActivities", "parent", "0", "id"]),
        ("[key.with.dots]", ["key.with.dots"]),
        ("$.actor.mbox", ["actor", "mbox"]),
        (f"$[{BADGES}]", [BADGES]),
    ],
)
def test_path_segments(path: str, segments: list[str]) -> None:
    assert path_segments(path) == segments


@pytest.mark.parametrize("path", ["", ".a", "a.", "a..b", "a[x]b", "a[]", "a[x", "a]", "$."])
def test_malformed_paths_have_no_segments(path: str) -> None:
    assert path_segments(path) is None


def test_value_at_reads_extensions_whose_iri_contains_dots() -> None:
    statement = make_statement(context={"extensions": {BADGES: ["Fire warden"]}})
    assert value_at(statement, f"context.extensions[{BADGES}]") == ["Fire warden"]


def test_value_at_indexes_lists_and_returns_none_when_absent() -> None:
    statement = make_statement(context={"contextActivities": {"parent": [{"id": "https://x/p"}]}})
    assert value_at(statement, "context.contextActivities.parent[0].id") == "https://x/p"
    assert value_at(statement, "context.contextActivities.parent[1].id") is None
    assert value_at(statement, "result.score.raw") is None
    assert value_at(statement, "verb.id.deeper") is None


def test_value_at_root_is_the_document() -> None:
    statement = make_statement()
    assert value_at(statement, "$") is statement


def test_value_at_rejects_malformed_paths() -> None:
    with pytest.raises(ValueError, match="malformed path"):
        value_at({}, "a..b")


@pytest.mark.parametrize("verb", ["completed", "passed", "mastered"])
def test_completion_verbs_complete(verb: str) -> None:
    statement = make_statement(verb={"id": ADL + verb}, result={"completion": False})
    assert learning_completed(statement) is True


def test_completion_true_completes_whatever_the_verb() -> None:
    assert learning_completed(make_statement(verb={"id": ADL + "answered"}, result={"completion": True}))


@pytest.mark.parametrize("verb", ["failed", "attempted", "experienced"])
def test_other_verbs_without_completion_do_not_complete(verb: str) -> None:
    assert learning_completed(make_statement(verb={"id": ADL + verb}, result=None)) is False
    assert learning_completed(make_statement(verb={"id": ADL + verb}, result={"success": True})) is False


def test_completion_accepts_a_verb_an_iri_or_a_boolean() -> None:
    assert learning_completed({"id": ADL + "passed"}) is True
    assert learning_completed(ADL + "mastered") is True
    assert learning_completed("passed") is True
    assert learning_completed(ADL + "failed") is False
    assert learning_completed(True) is True
    assert learning_completed(False) is False


def test_completion_rejects_other_values() -> None:
    with pytest.raises(ValueError, match="expected a statement"):
        learning_completed(1)  # type: ignore[arg-type]
