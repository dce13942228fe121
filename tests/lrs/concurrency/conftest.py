"""Fixtures of the concurrency tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lrs.statements import store
from lrs.statements.single import definition_cache, id_pool


@pytest.fixture
def empty_statement_caches() -> Iterator[None]:
    """No pooled keys, cached definitions or re-sending senders before and after the test (as in
    tests/lrs/statements/conftest.py): each test decides which write path a statement takes."""
    forgetting = (id_pool.forget, definition_cache.clear, store._resending_until.clear)
    for forget in forgetting:
        forget()
    yield
    for forget in forgetting:
        forget()
