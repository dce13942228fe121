"""Fixtures of the LRS tests (the statement store's, and the concurrency tests' writes)."""

from __future__ import annotations

import pytest

from lrs.statements import store
from lrs.statements.single import definition_cache, id_pool


@pytest.fixture
def empty_statement_caches():
    """No primary keys in the pool, no cached definitions and no sender known to re-send
    statements, before and after the test: each test decides whether the one-SQL path
    (lrs.statements.single) can be taken and whether a batch looks its ids up first."""
    forgetting = (id_pool.forget, definition_cache.clear, store._resending_until.clear)
    for forget in forgetting:
        forget()
    yield
    for forget in forgetting:
        forget()
