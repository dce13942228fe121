"""Secrets of targets (a Slack bot token, an incoming-webhook URL, OAuth client secrets and the
tokens they buy, a password in a webhook URL) stay out of what the LRS keeps of a failed delivery:
the attempt rows (error, response excerpt, request sent) and the delivery's last error, which the
admin, reconciliation and exports show. Logs are covered by tests/config/test_logs_hold_no_secrets.py.

The targets here fail in the two ways that carry secrets back: a 500 whose body echoes the request
it got (headers and body, as many debugging proxies and frameworks do), and a request that cannot
even be sent, whose error text names the URL."""

from __future__ import annotations

import json
import re

import pytest
import responses

from adapters.models import Attempt, Delivery, Target
from tests.adapters.helpers import store_now
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db

BOT_TOKEN = "xoxb-1111-2222-bot-token-never-kept"
SLACK_HOOK = "https://hooks.slack.test/services/T000/B000/incoming-secret-path"
CLIENT_SECRET = "pms-client-secret-never-kept"
ACCESS_TOKEN = "access-token-bought-never-kept"
URL_PASSWORD = "url-password-never-kept"


def echo(request) -> tuple[int, dict, str]:
    """A failing target that answers with everything it received."""
    headers = "\n".join(f"{name}: {value}" for name, value in request.headers.items())
    body = request.body.decode() if isinstance(request.body, bytes) else request.body or ""
    return 500, {}, f"upstream failed handling:\n{request.method} {request.url}\n{headers}\n\n{body}"


def kept_text() -> str:
    """Everything the LRS keeps of the deliveries and their attempts."""
    attempts = Attempt.objects.values_list("error", "response_excerpt", "request")
    deliveries = Delivery.objects.values_list("last_error", flat=True)
    text = "\n".join([*("\n".join(row) for row in attempts), *deliveries])
    assert Attempt.objects.exists(), "no attempt was recorded"
    return text


def test_a_slack_bot_target_echoing_its_request_keeps_no_bot_token(
    monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setenv("SLACK_TOKEN", BOT_TOKEN)
    Target.objects.create(
        name="slack",
        adapter="slack",
        config={
            "mode": "bot",
            "bot_token": {"env": "SLACK_TOKEN"},
            "api_base": "https://slack.test/api",
            "default_channel": "#general",
        },
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.add_callback(responses.POST, re.compile(r"https://slack\.test/api/.*"), callback=echo)
        mocked.add_callback(responses.GET, re.compile(r"https://slack\.test/api/.*"), callback=echo)
        store_now(django_capture_on_commit_callbacks, make_statement())
    text = kept_text()
    assert "upstream failed" in text  # the echo was kept, so the check below means something
    assert BOT_TOKEN not in text


def test_an_oauth_target_echoing_its_request_keeps_no_bearer_token(
    monkeypatch, django_capture_on_commit_callbacks
):
    from django.core.cache import cache

    from adapters.identity.links import Identifiers, identity_links_upsert

    cache.clear()
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setenv("PMS_SECRET", CLIENT_SECRET)
    identity_links_upsert(employee_id="E100", identifiers=Identifiers(emails=["learner@example.com"]))
    Target.objects.create(
        name="pms",
        adapter="pms",
        config={
            "base_url": "https://pms.test",
            "token_url": "https://pms.test/oauth/token",
            "client_id": "lrs-pms",
            "client_secret": {"env": "PMS_SECRET"},
        },
    )
    token = {"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.add(responses.POST, "https://pms.test/oauth/token", json=token)
        for method in (responses.GET, responses.POST, responses.PUT, responses.PATCH, responses.DELETE):
            mocked.add_callback(method, re.compile(r"https://pms\.test/(?!oauth).*"), callback=echo)
        store_now(
            django_capture_on_commit_callbacks,
            make_statement(verb="http://adlnet.gov/expapi/verbs/completed", result={"completion": True}),
        )
    cache.clear()
    text = kept_text()
    assert "upstream failed" in text
    assert ACCESS_TOKEN not in text
    assert CLIENT_SECRET not in text


def test_a_slack_incoming_webhook_url_that_cannot_be_parsed_is_not_kept_in_the_error(
    monkeypatch, django_capture_on_commit_callbacks
):
    # A secret file with a typo: the URL is the credential, and requests names it when refusing it.
    monkeypatch.setenv("SLACK_HOOK", SLACK_HOOK.replace("hooks.slack.test", "hooks.slack.test:99999"))
    Target.objects.create(
        name="slack", adapter="slack", config={"mode": "webhook", "webhook_url": {"env": "SLACK_HOOK"}}
    )
    store_now(django_capture_on_commit_callbacks, make_statement())
    text = kept_text()
    assert "incoming-secret-path" not in text


@pytest.mark.parametrize(
    "url",
    [
        f"https://hookuser:{URL_PASSWORD}@hooks.example.test/lrs",
        f"https://hookuser:{URL_PASSWORD}@hooks.example.test:99999/lrs",  # cannot even be sent
    ],
)
def test_a_password_in_a_webhook_url_is_not_kept(monkeypatch, django_capture_on_commit_callbacks, url):
    monkeypatch.setenv("HOOK_SECRET", "whsec_" + "a" * 32)
    Target.objects.create(
        name="hook", adapter="webhook", config={"url": url, "secret": {"env": "HOOK_SECRET"}}
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.add_callback(responses.POST, re.compile(r"https://hooks\.example\.test/.*"), callback=echo)
        store_now(django_capture_on_commit_callbacks, make_statement())
    text = kept_text()
    assert URL_PASSWORD not in text
    assert "hookuser" in text or "hooks.example.test" in text or "failed" in text
    json.dumps(text)  # the kept text is plain text an admin page can render


FUNCTION_KEY = "azure-function-key-never-kept-77"


def test_a_secret_query_parameter_in_a_url_named_by_an_error_is_not_kept(
    monkeypatch, django_capture_on_commit_callbacks
):
    # Azure Functions and many receivers authenticate by ?code= or ?token= in the URL itself.
    monkeypatch.setenv("HOOK_SECRET", "whsec_" + "a" * 32)
    url = f"https://hooks.example.test:99999/api/lrs?code={FUNCTION_KEY}&tenant=acme"
    Target.objects.create(
        name="hook", adapter="webhook", config={"url": url, "secret": {"env": "HOOK_SECRET"}}
    )
    store_now(django_capture_on_commit_callbacks, make_statement())
    text = kept_text()
    assert "tenant=acme" in text  # the URL was named, so the check below means something
    assert FUNCTION_KEY not in text
