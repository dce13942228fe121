"""One clock decides whether a credential has expired: the database's. A statement write checks
the credential in SQL against ``clock_timestamp()`` (``lrs.credentials.current``); authentication
compared ``expires_at`` with the app server's ``timezone.now()``. With the two clocks apart (an
app server whose clock drifted), a request in the gap was refused with the wrong message, or
refused by one check and served by the other. The app clock is moved by patching
``django.utils.timezone.now``; the database's is the real one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone

from lrs.credentials.models import Credential
from lrs.statements.models import Statement
from tests.conftest import XAPIClient, make_statement

pytestmark = pytest.mark.django_db

SECRET = "contractor-secret-0123"
SKEW = timedelta(seconds=60)


def database_now() -> datetime:
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


def contractor(expires_at: datetime) -> XAPIClient:
    credential = Credential(name="contractor", key="contractor", scopes=["all"], expires_at=expires_at)
    credential.set_secret(SECRET)
    credential.save()
    return XAPIClient(credential, SECRET)


@pytest.fixture
def app_clock_behind() -> Iterator[None]:
    real = timezone.now
    with mock.patch("django.utils.timezone.now", lambda: real() - SKEW):
        yield


@pytest.fixture
def app_clock_ahead() -> Iterator[None]:
    real = timezone.now
    with mock.patch("django.utils.timezone.now", lambda: real() + SKEW):
        yield


def requests(client: XAPIClient) -> dict[str, object]:
    put_id = str(uuid.uuid4())
    return {
        "GET": client.get("/xapi/statements"),
        "POST one": client.post_json("/xapi/statements", make_statement()),
        "POST two": client.post_json("/xapi/statements", [make_statement(), make_statement()]),
        "PUT": client.put_json("/xapi/statements", make_statement(), query=f"?statementId={put_id}"),
    }


def test_a_credential_expired_by_the_database_clock_is_refused_as_expired_by_an_app_clock_behind(
    app_clock_behind,
):
    """Expired a second ago by the database's clock, a minute ahead by the app's: every request
    is refused, 401 saying it expired (not "invalid credentials", nor served)."""
    client = contractor(database_now() - timedelta(seconds=1))
    answers = {name: (r.status_code, r.json().get("message") or "") for name, r in requests(client).items()}
    assert all(status == 401 and "expired" in message for status, message in answers.values()), answers
    assert Statement.objects.count() == 0


def test_a_credential_not_expired_by_the_database_clock_is_served_by_an_app_clock_ahead(app_clock_ahead):
    """Expiring in half a minute by the database's clock, expired by the app's: still served."""
    client = contractor(database_now() + SKEW / 2)
    answers = {name: r.status_code for name, r in requests(client).items()}
    assert answers == {"GET": 200, "POST one": 200, "POST two": 200, "PUT": 204}, answers
