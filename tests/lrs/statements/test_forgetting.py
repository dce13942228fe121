"""What processes remember of people goes when a person is erased (lrs.statements.erasure:
``people_erased``, ``forget_people_if_erased``): validation's memory of the values it accepted
holds actors with their names and addresses."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from lrs.statements import erasure
from lrs.statements.erasure import (
    FORGET_TOKEN_KEY,
    delete_statements,
    forget_people_if_erased,
    people_erased,
    pseudonymise_statements,
    statements_naming,
)
from lrs.statements.models import Statement
from lrs.statements.store import statement_store
from lrs.xapi import valid_memo
from lrs.xapi.valid_memo import forget_valid
from tests.conftest import make_statement

ADDRESS = "mailto:erased.person@example.com"


@pytest.fixture(autouse=True)
def fresh_memory(monkeypatch):
    forget_valid()
    cache.delete(FORGET_TOKEN_KEY)
    monkeypatch.setattr(erasure, "_next_check", 0.0)
    monkeypatch.setattr(erasure, "_token_seen", None)
    yield
    forget_valid()


def remembered(text: str) -> bool:
    """Whether any validator's memory holds a value whose JSON text contains ``text``."""
    needle = text.encode()
    for accepted in valid_memo._remembered:
        for key in accepted.keys:
            if needle in (key[0] if isinstance(key, tuple) else key):
                return True
    return False


def statement_of_the_person() -> dict:
    statement = make_statement()
    statement["actor"] = {"objectType": "Agent", "name": "Erased Person", "mbox": ADDRESS}
    return statement


def erasure_in_another_process() -> None:
    """What ``people_erased`` leaves in the shared cache, as another process would."""
    cache.set(FORGET_TOKEN_KEY, "an erasure elsewhere", timeout=None)


@pytest.mark.django_db
def test_storing_a_batch_after_an_erasure_elsewhere_forgets_the_people_validation_remembered():
    statement_store(statements=[statement_of_the_person(), make_statement()], credential=None)
    assert remembered(ADDRESS) and remembered("Erased Person")

    erasure_in_another_process()
    erasure._next_check = 0.0  # its next look is due
    statement_store(statements=[make_statement(), make_statement()], credential=None)

    assert not remembered(ADDRESS) and not remembered("Erased Person")


@pytest.mark.django_db
def test_a_process_looks_at_most_every_few_seconds_and_forgets_once_per_erasure(monkeypatch):
    statement_store(statements=[statement_of_the_person()], credential=None)
    erasure_in_another_process()
    forget_people_if_erased()  # looked at the store's call just now: not yet
    assert remembered(ADDRESS)

    erasure._next_check = 0.0
    forget_people_if_erased()
    assert not remembered(ADDRESS)
    statement_store(statements=[statement_of_the_person()], credential=None)
    erasure._next_check = 0.0
    forget_people_if_erased()  # the same erasure: nothing more to forget
    assert remembered(ADDRESS)


@pytest.mark.django_db
def test_with_the_cache_down_a_process_goes_on_and_looks_again_later(monkeypatch):
    statement_store(statements=[statement_of_the_person()], credential=None)

    def down(*args, **kwargs):
        raise ConnectionError("the cache is down")

    monkeypatch.setattr(cache, "get", down)
    monkeypatch.setattr(cache, "set", down)
    erasure._next_check = 0.0
    forget_people_if_erased()
    people_erased()  # this process forgets at once; the others at their next look after it
    assert not remembered(ADDRESS)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", ["pseudonymise", "delete"])
def test_rewriting_or_deleting_statements_of_a_person_tells_every_process_once_committed(mode):
    statement_store(statements=[statement_of_the_person()], credential=None)
    assert remembered(ADDRESS)
    own = statements_naming([f"mbox::{ADDRESS}"]).own
    assert own, "the person's statement is found by their IFI"

    if mode == "pseudonymise":
        pseudonymise_statements(
            own, [f"mbox::{ADDRESS}"], lambda ifi: {"homePage": "https://p", "name": "p-1"}
        )
    else:
        delete_statements(own)

    assert cache.get(FORGET_TOKEN_KEY) is not None
    assert not remembered(ADDRESS)
    assert Statement.objects.count() == (1 if mode == "pseudonymise" else 0)
