"""Pytest fixtures for the fake downstream systems: each yields a started server on a free
port of 127.0.0.1 and stops it (joining every thread it started) in teardown.

Import them where needed, e.g. in ``tests/adapters/conftest.py``::

    from tests.targets.fixtures import (  # noqa: F401
        graph_server, marketplace_server, pms_server, slack_server,
    )
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.targets.graph_server import GraphServer
from tests.targets.marketplace_server import MarketplaceServer
from tests.targets.pms_server import PMSServer
from tests.targets.slack_server import SlackServer


@pytest.fixture
def pms_server() -> Iterator[PMSServer]:
    """The fake PMS (client ``lrs-pms`` / ``pms-secret``); ``.token_url``, ``.events_url``."""
    with PMSServer() as server:
        yield server


@pytest.fixture
def marketplace_server() -> Iterator[MarketplaceServer]:
    """The fake marketplace (client ``lrs-marketplace`` / ``marketplace-secret``)."""
    with MarketplaceServer() as server:
        yield server


@pytest.fixture
def slack_server() -> Iterator[SlackServer]:
    """The fake Slack (bot token ``.bot_token``, channels general/learning, user
    learner@example.com, incoming webhook ``.webhook_url()``)."""
    with SlackServer() as server:
        yield server


@pytest.fixture
def graph_server() -> Iterator[GraphServer]:
    """The fake identity platform + Graph (``.tenant_id``, ``.client_id``, ``.client_secret``;
    ``.issue_refresh_token()`` for delegated flows)."""
    with GraphServer() as server:
        yield server
