"""Extensions: keys are IRIs, values are never inspected (Data 4.1)."""

from __future__ import annotations

import pytest

from lrs.xapi.extensions import validate_extensions
from tests.lrs.xapi.examples import assert_rejected


@pytest.mark.parametrize(
    "value", [None, {}, "", 0, False, [], {"nested": {"deep": [None, 1]}}, "600mph", 12345, True]
)
def test_any_value_is_accepted_including_null_and_empty_objects(value):
    extensions = {"http://example.com/ex": value}
    assert validate_extensions(extensions, path="statement.context.extensions") is extensions


def test_an_empty_extensions_map_is_accepted():
    validate_extensions({}, path="statement.result.extensions")


@pytest.mark.parametrize("key", ["should fail", "sessionid", "/relative", "ab=c://x", ""])
def test_keys_must_be_absolute_iris(key):
    assert_rejected(
        lambda: validate_extensions(
            {"http://example.com/ok": 1, key: True}, path="statement.result.extensions"
        ),
        path=f'statement.result.extensions["{key}"]',
        rule="iri",
    )


@pytest.mark.parametrize("value", ["should fail", ["http://example.com/ex"], 1, None])
def test_extensions_must_be_an_object(value):
    assert_rejected(
        lambda: validate_extensions(value, path="statement.object.definition.extensions"),
        path="statement.object.definition.extensions",
        rule="not-null" if value is None else "type",
    )
