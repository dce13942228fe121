"""Fixtures of the webhook batch tests: a real fake receiver taking arrays, and drains that ask for
no further drain (``batching`` holds the helpers)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.delivery import queue
from tests.targets.webhook_server import WebhookServer


@pytest.fixture
def receiver(monkeypatch) -> Iterator[WebhookServer]:
    monkeypatch.setenv("TEST_BATCH_SECRET", "batch-secret")
    server = WebhookServer(secret="batch-secret", batched=True).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def no_recruiting(monkeypatch, settings):
    """A full batch asks for another drain: recorded nowhere, not run (eagerly it would claim too)."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    monkeypatch.setattr(queue, "publish", lambda name, args, **kwargs: True)
