"""Credentials may expire (``expires_at``): one issued for a contractor or a migration stops working
on its own. An expired credential is answered like any other that is not valid, 401 with
``WWW-Authenticate`` (xAPI Communication 4.1), whose message says it expired (only to a caller who
sent its secret); a process's cached copy expires with it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from lrs.credentials.models import Credential
from lrs.statements.models import Statement
from tests.conftest import XAPIClient, basic_auth, make_statement

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> str:
    out = StringIO()
    call_command("create_credential", *args, stdout=out)
    return out.getvalue()


SECRET = "contractor-secret-0123"


def _client(expires_at: datetime | None) -> XAPIClient:
    run("contractor", "--scopes", "all,identity/write", "--key", "contractor", "--secret", SECRET)
    Credential.objects.filter(key="contractor").update(expires_at=expires_at)
    return XAPIClient(Credential.objects.get(key="contractor"), SECRET)


def test_create_credential_sets_an_expiry_in_days_or_at_a_time_and_keeps_it_unless_told():
    before = timezone.now()
    output = run("contractor", "--scopes", "statements/write", "--expires-in", "30")
    expires_at = Credential.objects.get(name="contractor").expires_at
    assert before + timedelta(days=30) <= expires_at <= timezone.now() + timedelta(days=30)
    assert f"expires at {expires_at.isoformat()}" in output

    run("contractor", "--scopes", "statements/write", "--expires-at", "2031-02-03T04:05:06Z")
    assert Credential.objects.get(name="contractor").expires_at == datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC)
    run("contractor", "--scopes", "all")  # an update naming no expiry keeps it
    assert Credential.objects.get(name="contractor").expires_at == datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC)
    run("contractor", "--scopes", "all", "--no-expiry")
    assert Credential.objects.get(name="contractor").expires_at is None

    wrongs = (["--expires-at", "next tuesday"], ["--expires-in", "0"], ["--expires-in", "1", "--no-expiry"])
    for wrong in wrongs:
        with pytest.raises(CommandError, match=r"--expires"):
            run("contractor", "--scopes", "all", *wrong)


def test_an_expired_credential_is_refused_with_401_saying_it_expired():
    client = _client(timezone.now() - timedelta(seconds=1))
    for response in (
        client.get("/xapi/statements"),
        client.post_json("/xapi/statements", make_statement()),
        client.post_json("/xapi/statements", [make_statement(), make_statement()]),
    ):
        assert response.status_code == 401, response.content
        assert response["WWW-Authenticate"] == 'Basic realm="lrs"'
        assert "expired" in response.json()["message"]
    assert Statement.objects.count() == 0
    identity = client.client.get(
        "/api/identity/employees/E100", headers={"Authorization": basic_auth("contractor", SECRET)}
    )
    assert identity.status_code == 401
    # A wrong secret is told no more than before: not that the key exists, nor that it expired.
    wrong = client.get("/xapi/statements", headers={"Authorization": basic_auth("contractor", "not-it")})
    assert wrong.status_code == 401 and "expired" not in wrong.json()["message"]


def test_a_credential_cached_by_the_process_stops_writing_when_it_expires():
    client = _client(timezone.now() + timedelta(seconds=2))
    assert client.post_json("/xapi/statements", make_statement()).status_code == 200
    assert client.post_json("/xapi/statements", make_statement()).status_code == 200  # from the cache
    expires_at = Credential.objects.get(key="contractor").expires_at
    time.sleep(max(0.0, (expires_at - timezone.now()).total_seconds()))
    stored = Statement.objects.count()
    assert client.post_json("/xapi/statements", make_statement()).status_code == 401
    assert client.post_json("/xapi/statements", [make_statement(), make_statement()]).status_code == 401
    assert Statement.objects.count() == stored


def test_the_admin_shows_and_edits_the_expiry(admin_client):
    _client(None)
    credential = Credential.objects.get(key="contractor")
    page = admin_client.get(f"/admin/lrs/credential/{credential.pk}/change/").content.decode()
    assert 'name="expires_at' in page
    response = admin_client.post(
        f"/admin/lrs/credential/{credential.pk}/change/",
        {
            "name": "contractor",
            "key": "contractor",
            "scopes": ["all"],
            "is_active": "on",
            "new_secret": "",
            "expires_at_0": "2031-02-03",
            "expires_at_1": "04:05:06",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    credential.refresh_from_db()
    assert credential.expires_at == datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert "expires" in admin_client.get("/admin/lrs/credential/").content.decode()
