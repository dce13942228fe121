"""What an attempt row keeps of a failed delivery (adapters/delivery/outcomes.py: error, answer
excerpt, request sent; redacted by adapters.redaction.redacted_text) must hold a resolved secret in
none of the forms the log formatter already masks (config/logs.py): a target's JSON answer echoing
it escaped, a URL or form naming it percent-encoded, a secret URL named by its path alone (as
urllib3 names the URL it failed on). Only the secret as written was replaced."""

from __future__ import annotations

import json
from urllib.parse import quote

from adapters.redaction import redacted_text
from adapters.secrets import resolve


def test_a_resolved_secret_is_masked_json_escaped_and_percent_encoded(monkeypatch) -> None:
    secret = 'k3y/with+"quote"&slash=='
    monkeypatch.setenv("REVIEW_SECRET", secret)
    assert resolve({"env": "REVIEW_SECRET"}, field="review") == secret
    for form in (secret, json.dumps(secret)[1:-1], quote(secret, safe="")):
        assert form not in redacted_text(f"upstream said: {form} (end)"), form


def test_a_secret_url_named_by_its_path_alone_is_masked(monkeypatch) -> None:
    hook = "https://hooks.slack.test/services/T000/B000/incoming-secret-path-review"
    monkeypatch.setenv("REVIEW_HOOK", hook)
    resolve({"env": "REVIEW_HOOK"}, field="review")
    kept = redacted_text("Max retries exceeded with url: /services/T000/B000/incoming-secret-path-review")
    assert "incoming-secret-path-review" not in kept
