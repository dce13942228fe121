"""Parts of statements remembered valid (lrs.xapi.valid_memo): only acceptance is remembered, per
JSON value and flags, and validation answers exactly as without it."""

from __future__ import annotations

import copy
import os
import uuid
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrs.xapi import valid_memo
from lrs.xapi.activities import validate_activity
from lrs.xapi.context import validate_context
from lrs.xapi.errors import XAPIValidationError
from lrs.xapi.json_types import fail
from lrs.xapi.statement import validate_statement
from lrs.xapi.valid_memo import forget_valid, remembers_valid
from lrs.xapi.verbs import validate_verb
from tests.lrs.xapi import examples
from tests.lrs.xapi.examples import assert_rejected

# Examples per property; LRS_VALID_MEMO_EXAMPLES raises them (a longer run) or lowers them.
EXAMPLES = int(os.environ.get("LRS_VALID_MEMO_EXAMPLES", "300"))


@pytest.fixture(autouse=True)
def nothing_remembered():
    forget_valid()
    yield
    forget_valid()


def counting_validator(accepts, *flags: str):
    """A validator accepting what ``accepts(value, flags...)`` says, counting its real checks."""
    calls: list[Any] = []

    def validate(value: Any, *, path: str, version: str = "1.0.3") -> Any:
        calls.append(value)
        if not accepts(value, version):
            fail(f"not accepted: {value!r}", path, "toy")
        return value

    return remembers_valid(*flags)(validate), calls


def test_a_value_accepted_once_is_accepted_again_without_being_checked():
    validate, calls = counting_validator(lambda value, _version: True)
    value = {"id": "https://example.com/a", "list": [1, 2.5, True, None]}
    assert validate(value, path="a") is value
    equal = copy.deepcopy(value)
    assert validate(equal, path="b") is equal
    assert calls == [value]


def test_a_rejected_value_is_checked_every_time_and_each_error_names_its_own_path():
    bad = {"id": "not an iri"}
    for index in (0, 7):
        verb = f"statements[{index}].verb"
        assert_rejected(lambda verb=verb: validate_verb(bad, path=verb), path=f"{verb}.id", rule="iri")


def test_the_flags_are_part_of_what_is_remembered_and_a_left_out_flag_counts_as_its_default():
    validate, calls = counting_validator(lambda _value, version: version == "1.0.3", "version")
    value = {"name": "x"}
    validate(value, path="a")  # the default, 1.0.3
    validate(value, path="a", version="1.0.3")
    assert len(calls) == 1
    with pytest.raises(XAPIValidationError):
        validate(value, path="a", version="2.0.0")
    assert len(calls) == 2


@pytest.mark.parametrize("other", [1.0, True, "1", [1]])
def test_equal_looking_values_of_another_json_type_are_checked_on_their_own(other):
    validate, calls = counting_validator(lambda value, _version: type(value) is int)
    validate(1, path="a")
    with pytest.raises(XAPIValidationError):
        validate(other, path="a")
    assert calls == [1, other]


def test_a_value_orjson_cannot_write_is_checked_every_time():
    validate, calls = counting_validator(lambda _value, _version: True)
    huge = {"n": 2**70}  # valid JSON, beyond orjson's 64 bits
    validate(huge, path="a")
    validate(huge, path="a")
    assert len(calls) == 2


class _Text(str):
    pass


@pytest.mark.parametrize(
    "odd",
    [
        OrderedDict(id="https://example.com/a"),
        {"id": _Text("https://example.com/a")},
        {"id": "https://example.com/a", "definition": {"moreInfo": datetime(2026, 1, 1, tzinfo=UTC)}},
    ],
    ids=["dict-subclass", "str-subclass", "datetime"],
)
def test_subclasses_and_datetimes_are_checked_as_if_nothing_were_remembered(odd):
    def outcome() -> str:
        try:
            validate_activity(odd, path="a")
        except XAPIValidationError as error:
            return error.rule
        return "accepted"

    alone = outcome()
    validate_activity({"id": "https://example.com/a"}, path="a")  # the plain look-alike, remembered
    assert outcome() == alone


def test_a_positional_argument_after_the_value_goes_to_the_validator_as_it_is():
    validate, _calls = counting_validator(lambda _value, _version: True)
    validate({"a": 1}, path="x")
    with pytest.raises(TypeError):
        validate({"a": 1}, "x")  # the validator's parameters after the value are keyword-only


def test_properties_in_another_order_are_only_a_miss():
    validate, calls = counting_validator(lambda _value, _version: True)
    validate({"a": 1, "b": 2}, path="x")
    validate({"b": 2, "a": 1}, path="x")
    assert len(calls) == 2


def test_each_validator_holds_at_most_the_limit_in_bytes_of_json_text(monkeypatch):
    monkeypatch.setattr(valid_memo, "LIMIT_BYTES", 100)
    validate, calls = counting_validator(lambda _value, _version: True)
    values = [{"n": number, "pad": "x" * 20} for number in range(12)]  # 30 bytes of text each
    for value in values:
        validate(value, path="x")
    remembered = valid_memo._remembered[-1]
    assert 0 < len(remembered.keys) <= 3
    assert remembered.size <= 100
    validate(values[-1], path="x")  # the newest is still remembered
    assert len(calls) == 12


def test_a_context_remembered_valid_still_has_each_registration_checked():
    context = examples.cmi5_completed()["context"]
    validate_context(context, path="statements[0].context")
    other = {**context, "registration": "not-a-uuid"}
    assert_rejected(
        lambda: validate_context(other, path="statements[4].context"),
        path="statements[4].context.registration",
        rule="uuid",
    )
    null = {**context, "registration": None}  # worded by the whole check, as without memory
    assert_rejected(
        lambda: validate_context(null, path="statements[5].context"),
        path="statements[5].context.registration",
        rule="not-null",
    )
    validate_context({**context, "registration": str(uuid.uuid4())}, path="statements[6].context")


def test_a_varying_property_is_left_out_of_what_is_remembered():
    calls: list[Any] = []

    @remembers_valid(varying={"serial": lambda value, *, path: calls.append(("serial", value))})
    def validate(value: Any, *, path: str) -> Any:
        calls.append(("whole", value["serial"]))
        return value

    for serial in (1, 2, 3):
        validate({"shared": "x", "serial": serial}, path="p")
    assert calls == [("whole", 1), ("serial", 2), ("serial", 3)]


# Statements with one part replaced by something else: valid, or wrong in one place.
_SOME_VALUES = [
    None, 1, 1.0, -0.0, True, "", "not an iri", "https://example.com/x", "mailto:someone@example.com",
    "en-US", "2024-05-04T12:00:00Z", "ec531277-b57b-4c15-8d91-d292c5b2b8f7", {}, [], {"en-US": "x"},
    {"objectType": "Agent", "mbox": "mailto:a@example.com"}, {"id": "https://example.com/a"},
    {"objectType": "Group", "member": []}, [{"id": "https://example.com/a"}], 2**70,
]  # fmt: skip
_REPLACEMENTS = st.one_of(st.sampled_from(_SOME_VALUES), st.text(max_size=3), st.integers())
_EXAMPLES = [
    examples.cmi5_completed,
    examples.scorm_choice_answered,
    examples.planned_substatement,
    examples.voiding,
    examples.xapi2_team_game,
]


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def statements(draw) -> tuple[dict, str]:
    statement = draw(st.sampled_from(_EXAMPLES))()
    for _change in range(draw(st.integers(0, 2))):
        path = draw(st.sampled_from(_paths(statement)))
        parent = statement
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(draw(_REPLACEMENTS))
    return statement, draw(st.sampled_from(["1.0.3", "2.0.0"]))


def _outcome(statement: dict, version: str) -> tuple | None:
    try:
        validate_statement(copy.deepcopy(statement), version=version, path="statements[0]")
    except XAPIValidationError as error:
        return tuple((each.path, each.rule, each.describe()) for each in error.errors)
    return None


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(statements(), min_size=2, max_size=12))
def test_validation_answers_the_same_with_parts_remembered_as_without(sequence):
    """Each statement, validated after the others (parts remembered), is accepted or rejected
    with the same errors as when validated with nothing remembered."""
    remembered = [_outcome(statement, version) for statement, version in sequence]
    for (statement, version), outcome in zip(sequence, remembered, strict=True):
        forget_valid()
        assert _outcome(statement, version) == outcome
