"""Fixtures of the security tests."""

from __future__ import annotations

import pytest

from tests.conftest import XAPIClient


@pytest.fixture
def mine(xapi_for) -> XAPIClient:
    """A credential that may write statements and read only its own (``statements/read/mine``)."""
    return xapi_for(["statements/write", "statements/read/mine"], name="content")
