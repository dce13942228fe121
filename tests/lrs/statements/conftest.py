"""Fixtures of the statement store's tests."""

from __future__ import annotations

import pytest

from lrs.statements.single import definition_cache, id_pool


@pytest.fixture
def empty_statement_caches():
    """No primary keys in the pool and no cached definitions before and after the test: each
    test decides whether the one-SQL path (lrs.statements.single) can be taken."""
    for forget in (id_pool.forget, definition_cache.clear):
        forget()
    yield
    for forget in (id_pool.forget, definition_cache.clear):
        forget()
