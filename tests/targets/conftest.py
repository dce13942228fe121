"""Fake-server fixtures for the self-tests here, and a guard against leaked server threads."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tests.targets.fixtures import graph_server, marketplace_server, pms_server, slack_server  # noqa: F401

FAKE_NAMES = ("pms-", "marketplace-", "slack-", "graph-")


@pytest.fixture(autouse=True)
def _no_leaked_fake_threads() -> Iterator[None]:
    """Every fake started in a test must have joined its threads by the end of the test."""
    before = set(threading.enumerate())
    yield
    leaked = [
        t.name
        for t in threading.enumerate()
        if t not in before and t.is_alive() and t.name.startswith(FAKE_NAMES)
    ]
    assert not leaked, f"threads left running: {leaked}"
