"""An xAPI credential's secret is kept only as a digest and shown once, when generated: never in a
log record (whatever logger, at any level), an answer, an admin page or a command's output beyond
that one display. Checked over whole request cycles with a good and a bad secret, in the plain and
the alternate request syntax (Communication 1.3: the credential travels in the form body there).
A chosen secret can be provisioned from a file (the Docker / Kubernetes secret convention of
config/env.py), so it never sits in a shell history or the process list as ``--secret`` does."""

from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from lrs.credentials.models import Credential
from tests.conftest import XAPI_VERSION, basic_auth, make_statement

pytestmark = pytest.mark.django_db

SECRET = "cred-secret-4f1c9a-never-logged-or-shown"


def everything_logged(records: list[logging.LogRecord]) -> str:
    """Every record's message, arguments, exception text and extra attributes, as text."""
    parts = []
    for record in records:
        parts.append(record.getMessage())
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        parts += [repr(value) for value in vars(record).values()]
    return "\n".join(parts)


def answers_text(responses: list) -> str:
    return "\n".join(
        response.content.decode(errors="replace") + repr(sorted(response.items())) for response in responses
    )


@pytest.fixture
def credential() -> Credential:
    from lrs.credentials.services import credential_upsert

    return credential_upsert(name="lms", scopes=["all", "identity/write"], secret=SECRET).credential


def cycle(credential: Credential, secret: str) -> list:
    """A statement stored, read back and refused (bad JSON), in both syntaxes, plus the identity API."""
    client = Client()
    headers = {"Authorization": basic_auth(credential.key, secret), "X-Experience-API-Version": XAPI_VERSION}
    statement = json.dumps(make_statement())
    form = urlencode(
        {
            "Authorization": basic_auth(credential.key, secret),
            "X-Experience-API-Version": XAPI_VERSION,
            "Content-Type": "application/json",
            "content": statement,
        }
    )
    return [
        client.post("/xapi/statements", statement, content_type="application/json", headers=headers),
        client.post("/xapi/statements", "{not json", content_type="application/json", headers=headers),
        client.get("/xapi/statements", {"limit": "1"}, headers=headers),
        client.post("/xapi/statements?method=POST", form, content_type="application/x-www-form-urlencoded"),
        client.post(
            "/xapi/statements?method=POST&extra=1", form, content_type="application/x-www-form-urlencoded"
        ),
        client.get("/api/identity/employees/E1", headers={"Authorization": headers["Authorization"]}),
        client.get("/xapi/statements", headers={"Authorization": f"Basic {secret}"}),  # malformed
    ]


@pytest.mark.parametrize("sent", [SECRET, SECRET + "-wrong", SECRET.upper()])
def test_no_log_record_or_answer_holds_the_secret_over_a_request_cycle(caplog, credential, sent):
    caplog.set_level(logging.DEBUG)
    answers = cycle(credential, sent)
    assert {response.status_code for response in answers} & ({200, 400} if sent == SECRET else {401})
    texts = everything_logged(caplog.records) + answers_text(answers)
    digest = hashlib.sha256(sent.encode()).hexdigest()
    for shown in (sent, SECRET, digest, credential.secret_digest, basic_auth(credential.key, sent)[6:]):
        assert shown not in texts


def test_the_admin_shows_neither_secret_nor_digest_of_a_credential(client, credential):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    client.force_login(user)
    pages = [
        client.get("/admin/lrs/credential/"),
        client.get(f"/admin/lrs/credential/{credential.pk}/change/"),
        client.get(f"/admin/lrs/credential/{credential.pk}/history/"),
    ]
    changed = client.post(
        f"/admin/lrs/credential/{credential.pk}/change/",
        {
            "name": "lms",
            "key": credential.key,
            "scopes": ["all"],
            "is_active": "on",
            "new_secret": SECRET + "2",
        },
        follow=True,
    )
    pages += [changed, client.get(f"/admin/lrs/credential/{credential.pk}/history/")]
    text = answers_text(pages)
    assert all(page.status_code == 200 for page in pages)
    for shown in (SECRET, SECRET + "2", credential.secret_digest):
        assert shown not in text


def test_create_credential_prints_a_generated_secret_once_and_a_given_one_never():
    given = io.StringIO()
    call_command("create_credential", "given", "--scopes", "all", "--secret", SECRET, stdout=given)
    assert SECRET not in given.getvalue()
    generated = io.StringIO()
    call_command("create_credential", "generated", "--scopes", "all", stdout=generated)
    [secret] = [line.split()[-1] for line in generated.getvalue().splitlines() if line.startswith("secret:")]
    assert generated.getvalue().count(secret) == 1
    assert Credential.objects.get(name="generated").check_secret(secret)
    again = io.StringIO()
    call_command("create_credential", "generated", "--scopes", "all/read", stdout=again)
    assert secret not in again.getvalue()


def test_the_digest_is_not_the_secret_and_comparison_is_constant_time(monkeypatch, credential):
    calls: list[tuple[str, str]] = []
    import hmac

    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr("lrs.credentials.models.hmac.compare_digest", spy)
    assert SECRET not in credential.secret_digest
    assert credential.check_secret(SECRET) and not credential.check_secret(SECRET + "x")
    assert len(calls) == 2
    # An unknown key is checked the same way, so the time does not tell which keys exist.
    response = Client().get(
        "/xapi/statements",
        headers={
            "Authorization": basic_auth("no-such-key", SECRET),
            "X-Experience-API-Version": XAPI_VERSION,
        },
    )
    assert response.status_code == 401
    assert len(calls) == 3


PROVISIONED = "provisioned-secret-6b2e0c1d9f"


def test_create_credential_reads_the_secret_from_a_file_and_never_prints_it(tmp_path: Path) -> None:
    path = tmp_path / "lms_secret"
    path.write_text(PROVISIONED + "\n")
    out = io.StringIO()
    call_command("create_credential", "lms", "--scopes", "all", "--secret-file", str(path), stdout=out)
    assert Credential.objects.get(name="lms").check_secret(PROVISIONED)
    assert PROVISIONED not in out.getvalue() and "secret:" not in out.getvalue()


def test_create_credential_refuses_an_unreadable_or_empty_secret_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    for path in (tmp_path / "missing", empty):
        with pytest.raises(CommandError, match=r"--secret-file: .*(cannot be read|is empty)"):
            call_command("create_credential", "lms", "--scopes", "all", "--secret-file", str(path))
    assert not Credential.objects.exists()


@pytest.mark.xfail(
    strict=True,
    reason="product decision: secrets are kept as one unsalted SHA-256 (fast on purpose: one per "
    "request), safe for the generated 43-character secrets but crackable offline for a short "
    "operator-chosen one (admin new_secret, --secret); a minimum length (e.g. 16) would refuse "
    "what tests/lrs/credentials/test_command_dry_runs.py and existing provisioning scripts pass",
)
def test_an_operator_chosen_secret_shorter_than_16_characters_is_refused() -> None:
    with pytest.raises(CommandError):
        call_command("create_credential", "lms", "--scopes", "all", "--secret", "password")
