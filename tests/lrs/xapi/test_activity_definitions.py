"""Canonical activity definitions (lrs.xapi.activity_definitions): the merge, and the batch's
collection that skips merging equal definitions because the merge gives them back unchanged."""

from __future__ import annotations

import copy
import json

from hypothesis import given
from hypothesis import strategies as st

from lrs.xapi.activity_definitions import (
    activities_with_paths,
    collect_definitions,
    merge_definitions,
    statement_activities,
)
from tests.lrs.xapi import examples

_LANGUAGE_MAPS = st.dictionaries(st.sampled_from(["en-US", "fr-FR", "de"]), st.text(max_size=3), max_size=3)
# Component ids are distinct within a list in every valid definition (lrs.xapi.interactions); with
# a repeated id the merge would not give an equal definition back.
_COMPONENTS = st.lists(
    st.fixed_dictionaries({"id": st.sampled_from(["a", "b", "c"])}, optional={"description": _LANGUAGE_MAPS}),
    max_size=3,
    unique_by=lambda component: component["id"],
)
_DEFINITIONS = st.fixed_dictionaries(
    {},
    optional={
        "name": _LANGUAGE_MAPS,
        "description": _LANGUAGE_MAPS,
        "type": st.sampled_from(["https://example.com/t1", "https://example.com/t2"]),
        "interactionType": st.sampled_from(["choice", "likert", "sequencing"]),
        "choices": _COMPONENTS,
        "scale": _COMPONENTS,
        "correctResponsesPattern": st.lists(st.sampled_from(["a", "b"]), max_size=2),
        "extensions": st.dictionaries(st.sampled_from(["https://example.com/e"]), st.integers(), max_size=1),
    },
)


@given(_DEFINITIONS)
def test_merging_an_equal_valid_definition_or_one_into_none_gives_that_definition(definition):
    assert merge_definitions(definition, copy.deepcopy(definition)) == definition
    assert merge_definitions({}, definition) == definition


_ACTIVITY_IDS = st.sampled_from(["https://example.com/a1", "https://example.com/a2"])


@given(st.lists(st.tuples(_ACTIVITY_IDS, _DEFINITIONS)))
def test_a_batch_collects_each_activity_s_definitions_merged_in_batch_order(uses):
    statements = [
        {"object": {"id": activity_id, **({"definition": definition} if definition else {})}}
        for activity_id, definition in uses
    ]
    expected: dict = {}
    for activity_id, definition in uses:
        if definition:
            expected[activity_id] = merge_definitions(expected.get(activity_id) or {}, definition)
        else:
            expected.setdefault(activity_id, None)
    # The same JSON text, property order included (SQLite keeps it as written).
    assert json.dumps(collect_definitions(copy.deepcopy(statements))) == json.dumps(expected)


def test_a_statement_s_activities_are_those_activities_with_paths_finds_in_the_same_order():
    nested = examples.planned_substatement()
    nested["object"]["context"]["contextActivities"]["grouping"] = {"id": "http://example.com/single"}
    nested["context"] = {"contextActivities": {"category": [{"id": "http://example.com/c"}]}}
    others = (examples.cmi5_completed(), examples.scorm_choice_answered(), examples.voiding())
    for statement in (*others, nested):
        with_paths = [activity for _path, activity in activities_with_paths(statement)]
        assert statement_activities(statement) == with_paths
    assert len(statement_activities(nested)) == 4
