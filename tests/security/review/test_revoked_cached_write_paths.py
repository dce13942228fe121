"""Every way a statement POST or PUT can be answered refuses a credential another process revoked,
expired, re-secreted or reduced, although this process still has its old copy cached: an answer
that returns before the write (a batch all stored already, a conflict, a voiding statement,
attachments, the alternate syntax, a PUT of a stored id) would let a revoked key write, or learn
which statements the store holds (200/204 for a stored id, 409 for a different one).

Another process's change is made as it would be seen here: the row changed (``updated_at`` moved,
as ``save`` does), without this process's signal that clears its cache (``lrs.api.auth``)."""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.utils import timezone

from lrs.attachment_store import AttachmentContent
from lrs.credentials.models import Credential
from lrs.credentials.services import credential_upsert
from lrs.statements.models import Statement
from tests.conftest import XAPIClient, make_statement

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "the-right-secret-0123456789"
BOUNDARY = "-------314159265358979323846"


def _deactivated(credential: Credential) -> None:
    Credential.objects.filter(pk=credential.pk).update(is_active=False, updated_at=timezone.now())


def _re_secreted(credential: Credential) -> None:
    digest = Credential.digest("another-secret-0123456789")
    Credential.objects.filter(pk=credential.pk).update(secret_digest=digest, updated_at=timezone.now())


def _reduced(credential: Credential) -> None:
    Credential.objects.filter(pk=credential.pk).update(scopes=["statements/read"], updated_at=timezone.now())


def _expired(credential: Credential) -> None:  # no save at all: the clock passed expires_at
    Credential.objects.filter(pk=credential.pk).update(expires_at=timezone.now() - timedelta(seconds=1))


def _recreated(credential: Credential) -> None:
    """Deleted and created again with the same key and a new secret (no signal in this process)."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Credential._meta.db_table} WHERE id = %s", [credential.pk])
    again = Credential(name=credential.name, key=credential.key, scopes=credential.scopes)
    again.set_secret("another-secret-0123456789")
    Credential.objects.bulk_create([again])


CHANGES: dict[str, tuple[Callable[[Credential], None], int]] = {
    "deactivated": (_deactivated, 401),
    "re-secreted": (_re_secreted, 401),
    "scopes reduced": (_reduced, 403),
    "expired": (_expired, 401),
    "deleted and re-created": (_recreated, 401),
}


def _multipart(statement: dict, data: bytes) -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Type: application/json\r\n\r\n{json.dumps([statement])}"
    part = (
        f"\r\n--{BOUNDARY}\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: binary\r\n"
        f"X-Experience-API-Hash: {hashlib.sha256(data).hexdigest()}\r\n\r\n"
    )
    return head.encode() + part.encode() + data + f"\r\n--{BOUNDARY}--".encode()


def _requests(xapi: XAPIClient, stored: list[dict]) -> dict[str, Callable[[], object]]:
    """What a client of the revoked credential may send, each a statement write of some kind."""
    different = copy.deepcopy(stored[0])
    different["verb"]["id"] = "http://example.com/verbs/other"
    voiding = make_statement(verb="http://adlnet.gov/expapi/verbs/voided")
    voiding["object"] = {"objectType": "StatementRef", "id": stored[1]["id"]}
    pdf = b"%PDF-1.4 from a revoked key"
    with_attachment = make_statement(
        attachments=[
            {
                "usageType": "http://example.com/attachment-usage/certificate",
                "display": {"en-US": "Certificate"},
                "contentType": "application/pdf",
                "length": len(pdf),
                "sha2": hashlib.sha256(pdf).hexdigest(),
            }
        ]
    )
    new_id = str(uuid.uuid4())
    form = urlencode(
        {
            "statementId": new_id,
            "content": json.dumps(make_statement()),
            "Authorization": xapi.headers["Authorization"],
            "X-Experience-API-Version": "1.0.3",
            "Content-Type": "application/json",
        }
    )

    def put(statement: dict) -> object:
        return xapi.client.put(
            f"/xapi/statements?statementId={statement['id']}",
            json.dumps(statement),
            content_type="application/json",
            headers=xapi.headers,
        )

    return {
        "single new": lambda: xapi.post_json("/xapi/statements", make_statement()),
        "single stored": lambda: xapi.post_json("/xapi/statements", stored[0]),
        "batch all stored": lambda: xapi.post_json("/xapi/statements", stored),
        "batch stored id, other content": lambda: xapi.post_json("/xapi/statements", [different, stored[1]]),
        "voiding only": lambda: xapi.post_json("/xapi/statements", voiding),
        "attachments": lambda: xapi.client.post(
            "/xapi/statements",
            _multipart(with_attachment, pdf),
            content_type=f"multipart/mixed; boundary={BOUNDARY}",
            headers=xapi.headers,
        ),
        "alternate syntax PUT": lambda: xapi.client.post(
            "/xapi/statements?method=PUT", form, content_type="application/x-www-form-urlencoded"
        ),
        "PUT stored": lambda: put(stored[0]),
        "PUT stored id, other content": lambda: put(different),
    }


def _store_state() -> tuple[int, int, int]:
    return (
        Statement.objects.count(),
        Statement.objects.filter(voided=True).count(),
        AttachmentContent.objects.count(),
    )


def _cached_client(name: str) -> tuple[Credential, XAPIClient, list[dict]]:
    """A credential this process has just authenticated a batch with (and so cached), the batch."""
    credential_upsert(name=name, scopes=["all"], key=name, secret=SECRET)
    credential = Credential.objects.get(key=name)
    xapi = XAPIClient(credential, SECRET)
    stored = [make_statement(statement_id=str(uuid.uuid4())) for _ in range(2)]
    assert xapi.post_json("/xapi/statements", stored).status_code == 200
    return credential, xapi, stored


@pytest.mark.parametrize("change", list(CHANGES))
def test_no_statement_write_path_answers_a_credential_changed_in_another_process(change, settings):
    settings.LRS_CREDENTIAL_CACHE_SECONDS = 600
    make_change, refused = CHANGES[change]
    answers: dict[str, tuple[int, str]] = {}
    # Each path with a credential of its own, cached afresh: a refusal by one path drops this
    # process's copy, which would hide a path after it that does not check.
    _credential, xapi, stored = _cached_client("lms-paths")
    for index, path in enumerate(_requests(xapi, stored)):
        credential, xapi, stored = _cached_client(f"lms-{index}")
        send = _requests(xapi, stored)[path]
        make_change(credential)
        before = _store_state()
        status = send().status_code
        answers[path] = (status, "unchanged" if _store_state() == before else "the store changed")
    assert answers == dict.fromkeys(answers, (refused, "unchanged"))


@pytest.mark.parametrize("change", ["deactivated", "re-secreted", "expired", "deleted and re-created"])
def test_documents_reads_and_the_identity_api_read_the_credential_afresh(change, settings):
    """Every other request reads the credential from the database: none answers from the copy."""
    settings.LRS_CREDENTIAL_CACHE_SECONDS = 600
    credential, xapi, _stored = _cached_client("lms-other")
    credential.scopes = ["all", "identity/write"]
    credential.save()
    credential.refresh_from_db()
    assert xapi.post_json("/xapi/statements", make_statement()).status_code == 200  # cached again
    CHANGES[change][0](credential)
    agent = json.dumps({"mbox": "mailto:learner@example.com"})
    state = f"/xapi/activities/state?activityId=http://example.com/a&agent={agent}&stateId=s"
    answers = {
        "state PUT": xapi.client.put(state, b"{}", content_type="application/json", headers=xapi.headers),
        "state GET": xapi.client.get(state, headers=xapi.headers),
        "statements GET": xapi.client.get("/xapi/statements", headers=xapi.headers),
        "identity GET": xapi.client.get("/api/identity/employees/E100", headers=xapi.headers),
    }
    assert {name: response.status_code for name, response in answers.items()} == dict.fromkeys(answers, 401)
