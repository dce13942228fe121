"""What processes remember of people goes when a person is erased (lrs.statements.erasure:
``people_erased``, ``forget_people_if_erased``): validation's memory of the values it accepted
holds actors with their names and addresses, and its IRIs an OpenID."""

from __future__ import annotations

import json

import pytest
from django.db import DatabaseError, transaction

from lrs.statements import erasure
from lrs.statements.erasure import forget_people_if_erased, people_erased
from lrs.statements.models import ErasureMark
from lrs.statements.store import statement_store
from lrs.xapi import iris, valid_memo
from lrs.xapi.valid_memo import forget_valid
from tests.conftest import make_statement

ADDRESS = "mailto:erased.person@example.com"
OPENID = "https://openid.example.com/erased-person"


@pytest.fixture(autouse=True)
def fresh_memory(monkeypatch):
    forget_valid()
    monkeypatch.setattr(erasure, "_next_check", 0.0)  # looking is on (tests/conftest.py turns it off)
    monkeypatch.setattr(erasure, "_marks_seen", None)
    yield
    forget_valid()


def remembered(text: str) -> bool:
    """Whether validation remembers a value whose JSON text (or IRI) contains ``text``."""
    needle = text.encode()
    for accepted in valid_memo._remembered:
        for key in accepted.keys:
            if needle in (key[0] if isinstance(key, tuple) else key):
                return True
    return any(text in iri for iri in iris._valid_iris | iris._valid_irls)


def statements_of_the_person() -> list[dict]:
    by_address, by_openid = make_statement(), make_statement()
    by_address["actor"] = {"objectType": "Agent", "name": "Erased Person", "mbox": ADDRESS}
    by_openid["actor"] = {"objectType": "Agent", "openid": OPENID}
    return [by_address, by_openid]


def erased_in_another_process() -> None:
    """What an erasure's transaction leaves behind, as another process would have committed it."""
    ErasureMark.objects.create()


@pytest.mark.django_db
def test_storing_a_batch_after_an_erasure_elsewhere_forgets_the_people_validation_remembered():
    statement_store(statements=statements_of_the_person(), credential=None)
    assert remembered(ADDRESS) and remembered("Erased Person") and remembered(OPENID)

    erased_in_another_process()
    erasure._next_check = 0.0  # its next look is due
    statement_store(statements=[make_statement(), make_statement()], credential=None)

    assert not remembered(ADDRESS) and not remembered("Erased Person") and not remembered(OPENID)


@pytest.mark.django_db
def test_a_process_looks_at_most_every_few_seconds_and_forgets_once_per_erasure(monkeypatch):
    monkeypatch.setattr(erasure, "FORGET_CHECK_SECONDS", 3600.0)
    statement_store(statements=statements_of_the_person(), credential=None)  # looks: nothing erased
    erased_in_another_process()
    forget_people_if_erased()  # looked at the store's call just now: not yet
    assert remembered(ADDRESS)

    erasure._next_check = 0.0
    forget_people_if_erased()
    assert not remembered(ADDRESS)
    statement_store(statements=statements_of_the_person(), credential=None)
    erasure._next_check = 0.0
    forget_people_if_erased()  # the same erasure: nothing more to forget
    assert remembered(ADDRESS)


@pytest.mark.django_db(transaction=True)
def test_the_erasing_process_forgets_once_the_erasure_commits_and_not_if_it_rolls_back():
    statement_store(statements=statements_of_the_person(), credential=None)
    with pytest.raises(RuntimeError), transaction.atomic():
        people_erased()
        raise RuntimeError("the erasure failed half-way")
    assert remembered(ADDRESS) and not ErasureMark.objects.exists()

    with transaction.atomic():
        people_erased()
        assert remembered(ADDRESS)  # not before it commits
    assert not remembered(ADDRESS)


@pytest.mark.django_db(transaction=True)
def test_an_erasure_committed_after_a_newer_one_is_not_missed():
    """Marks take their ids when written, not when committed: the count still changes."""
    first = ErasureMark.objects.create()  # an erasure's mark, committed later than the next one's
    first_id = first.id
    first.delete()
    ErasureMark.objects.create()
    statement_store(statements=statements_of_the_person(), credential=None)  # looks: forgets, sees it
    statement_store(statements=statements_of_the_person(), credential=None)
    assert remembered(ADDRESS)

    ErasureMark.objects.create(id=first_id)  # the older erasure commits now
    erasure._next_check = 0.0
    forget_people_if_erased()
    assert not remembered(ADDRESS)


@pytest.mark.django_db
def test_a_failed_look_is_logged_and_storing_goes_on(monkeypatch, caplog):
    def unavailable(*args, **kwargs):
        raise DatabaseError('relation "lrs_erasuremark" does not exist')

    monkeypatch.setattr(ErasureMark.objects, "aggregate", unavailable)
    statement_store(statements=statements_of_the_person(), credential=None)
    assert "could not look for erasures" in caplog.text
    assert remembered(ADDRESS)


@pytest.mark.django_db
def test_a_query_after_an_erasure_elsewhere_forgets_too(xapi):
    """A process that only answers queries: an ``agent`` parameter's OpenID is checked as an IRI."""
    response = xapi.get_statements(agent=json.dumps({"openid": OPENID}))
    assert response.status_code == 200 and remembered(OPENID)
    erased_in_another_process()
    erasure._next_check = 0.0
    xapi.get_statements(verb="http://adlnet.gov/expapi/verbs/completed")
    assert not remembered(OPENID)
