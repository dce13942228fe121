"""Bad input the API fuzz (this folder) found answered with a 500 or an unclear 400, each reduced to
the smallest request that showed it. Bad input is a 4xx naming the parameter, header or part and
the rule (Communication 3.2, https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#32-error-codes)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import XAPIClient

pytestmark = pytest.mark.django_db

AGENT = json.dumps({"mbox": "mailto:learner@example.com"})


def assert_400(response, path: str, rule: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert (body["path"], body["rule"]) == (path, rule), body


@pytest.mark.parametrize("limit", ["\u00b2", "\u0661", "\uff11"])
def test_a_limit_of_non_ascii_digits_is_a_400_naming_limit(xapi: XAPIClient, limit: str) -> None:
    # A superscript two is a digit to str.isdigit() but not to int() (it was a 500); an Arabic-Indic
    # or fullwidth one int() would read, but the parameter is a non-negative integer in ASCII digits
    # (Communication 2.1.3, the limit parameter).
    assert_400(xapi.get_statements(limit=limit), "limit", "limit")
