"""An OAuth access token the LRS bought (adapters/oauth.py) is no resolved secret: what a target's
answer holds of it is masked only by its place (adapters.redaction.redacted_credentials), after
the word Authorization and a ':' or '='. Echoing servers show request headers in other shapes: Go
marshals http.Header as {"Authorization":["Bearer ..."]}, Node lists rawHeaders flat
(Authorization,Bearer ...), Python reprs pairs [('Authorization', 'Bearer ...')], and error texts
name "Bearer ..." alone. A bearer token (RFC 6750 2.1, b64token) is masked in each."""

from __future__ import annotations

import pytest

from adapters.redaction import redacted_text

TOKEN = "eyJhbGciOi.tok-bought-never-kept_42~+/="


@pytest.mark.parametrize(
    "text",
    [
        '{"Authorization":["Bearer ' + TOKEN + '"]}',
        '[["Authorization", "Bearer ' + TOKEN + '"]]',
        "[('Authorization', 'Bearer " + TOKEN + "')]",
        "rawHeaders: Host,pms.example.test,Authorization,Bearer " + TOKEN + ",Accept,*/*",
        "upstream refused the token Bearer " + TOKEN + " as expired",
        "AUTHORIZATION\tbearer " + TOKEN,
    ],
    ids=["go-header-map", "json-pairs", "python-pairs", "node-raw-headers", "free-text", "tab-lowercase"],
)
def test_a_bearer_token_is_masked_whatever_shape_its_header_is_shown_in(text: str) -> None:
    kept = redacted_text(text)
    assert "tok-bought-never-kept" not in kept, kept
    assert "Bearer" in kept or "bearer" in kept  # the scheme stays: the operator sees what was sent


def test_the_word_bearer_alone_masks_nothing_else() -> None:
    text = 'WWW-Authenticate: Bearer realm="pms", error="invalid_token"'
    assert redacted_text(text) == text
