"""The request a failed attempt recorded for the admin: readable, cut short, and with nothing
secret in it (authorization, signatures, keys and tokens in headers or the query, and any secret
value resolved in this process wherever it turns up)."""

from __future__ import annotations

from adapters.base import OutboundRequest
from adapters.delivery.arrays import EXCERPT_CHARS, request_summary
from adapters.redaction import REDACTED
from adapters.secrets import resolve


def test_authorization_signature_and_key_headers_are_redacted_but_the_idempotency_key_is_kept():
    summary = request_summary(
        [
            OutboundRequest(
                "POST",
                "https://pms.example.com/events",
                json={"employee": "E100"},
                headers={
                    "Authorization": "Bearer abc.def",
                    "X-LRS-Signature": "sha256=1234",
                    "X-Api-Key": "k-123",
                    "Idempotency-Key": "s1:pms:deliver",
                },
            )
        ]
    )
    assert summary.startswith("POST https://pms.example.com/events\n")
    assert "abc.def" not in summary and "sha256=1234" not in summary and "k-123" not in summary
    assert f"Authorization: {REDACTED}" in summary
    assert "Idempotency-Key: s1:pms:deliver" in summary
    assert '"employee": "E100"' in summary


def test_secret_query_values_and_resolved_secrets_anywhere_are_redacted(monkeypatch):
    monkeypatch.setenv("SLACK_HOOK_URL", "https://hooks.slack.com/services/T0/B0/very-secret-part")
    url = resolve({"env": "SLACK_HOOK_URL"}, field="webhook_url")
    summary = request_summary(
        [
            OutboundRequest("POST", url, body=b"plain text"),
            OutboundRequest("GET", "https://api.example.com/items?page=2&access_token=t0k3n"),
        ]
    )
    assert "very-secret-part" not in summary and "t0k3n" not in summary
    assert "page=2" in summary and "plain text" in summary


def test_long_bodies_are_cut_at_the_excerpt_length():
    summary = request_summary([OutboundRequest("POST", "https://x.example.com", body=b"a" * 10_000)])
    assert summary.count("a") <= EXCERPT_CHARS + 10
    assert summary.endswith("[...]")


def test_secret_fields_of_form_and_json_bodies_are_redacted_at_any_depth():
    """A value no configured secret names (a rotated refresh token, a token in an answer sent on)
    is still redacted when its field's name looks secret."""
    summary = request_summary(
        [
            OutboundRequest(
                "POST",
                "https://login.example.com/token",
                body=b"grant_type=refresh_token&refresh_token=rt-rotated&client_id=app-1",
                headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            ),
            OutboundRequest(
                "POST",
                "https://api.example.com/events",
                json={
                    "employee": "E100",
                    "auth": {"api_key": "k-1", "password": "pw-1"},
                    "items": [{"token": "t-1", "idempotencyKey": "s1:hook:deliver"}],
                },
            ),
            OutboundRequest("POST", "https://api.example.com/raw", body=b'{"client_secret": "s-1"}'),
        ]
    )
    for secret in ("rt-rotated", "k-1", "pw-1", "t-1", "s-1"):
        assert secret not in summary, summary
    assert f"refresh_token={REDACTED}" in summary and "client_id=app-1" in summary
    assert '"employee": "E100"' in summary and '"idempotencyKey": "s1:hook:deliver"' in summary


def test_json_fields_are_redacted_by_a_secret_ending_not_a_secret_sounding_part():
    """An operator reads a payload's ordinary fields (a competency's code, an author's name, a
    session count) in the attempt record; only fields whose names end with a secret word are
    hidden. Headers keep the broad rule: a signature header stays hidden."""
    summary = request_summary(
        [
            OutboundRequest(
                "POST",
                "https://pms.example.com/events",
                json={
                    "competencyCode": "C-42",
                    "authorName": "Ada Lovelace",
                    "assignmentId": "A-7",
                    "sessionCount": 3,
                    "signedOff": "yes-signed",
                    "client_secret": "s-1",
                    "refresh_token": "rt-1",
                    "apiKey": "k-1",
                    "password": "pw-1",
                    "nested": {"x-api-key": "k-2", "accessToken": "t-2", "code": "oauth-code"},
                    "more": {"secretKey": "k-3", "authCode": "c-3", "client_assertion": "a-3"},
                },
                headers={"X-Hub-Signature-256": "sha256=5678"},
            )
        ]
    )
    for readable in ('"competencyCode": "C-42"', '"authorName": "Ada Lovelace"', '"sessionCount": 3'):
        assert readable in summary, summary
    assert '"assignmentId": "A-7"' in summary and '"signedOff": "yes-signed"' in summary
    for secret in (
        "k-3",
        "c-3",
        "a-3",
        "s-1",
        "rt-1",
        "k-1",
        "pw-1",
        "k-2",
        "t-2",
        "oauth-code",
        "sha256=5678",
    ):
        assert secret not in summary, summary
    assert f'"client_secret": "{REDACTED}"' in summary and f'"password": "{REDACTED}"' in summary
    assert f"X-Hub-Signature-256: {REDACTED}" in summary
