"""Production refuses to start on a missing or weak setting instead of falling back to a default,
DEBUG is off outside development, cookies are secure, the HTTPS settings behind a TLS-terminating
proxy are settable and documented, and CORS for browser xAPI content never lets another origin
use a browser's stored credentials."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import Client

from tests.config.test_settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "LRS_ENV": "production",
    "SECRET_KEY": "k" * 20 + "0123456789abcdefghijklmnopqrstuv",
    "ALLOWED_HOSTS": "lrs.example.com",
    "DATABASE_URL": "postgres://lrs@db:5432/lrs",
}
SHOWN = (
    "import json, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'; "
    "from django.conf import settings as s; print(json.dumps({name: getattr(s, name, None) for name in ("
    "'DEBUG', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY', "
    "'SECURE_PROXY_SSL_HEADER', 'SECURE_HSTS_SECONDS', 'SECURE_SSL_REDIRECT', 'SECURE_REDIRECT_EXEMPT', "
    "'X_FRAME_OPTIONS', 'CORS_ALLOW_CREDENTIALS', 'LRS_METRICS_PUBLIC')}))"
)


def settings_of(**env: str) -> dict:
    import os
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LRS_", "DJANGO_", "DATABASE_"))}
    clean.pop("DEBUG", None)
    clean.update(env)
    result = subprocess.run(
        [sys.executable, "-c", SHOWN], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("missing", "named"),
    [("ALLOWED_HOSTS", "ALLOWED_HOSTS"), ("SECRET_KEY", "SECRET_KEY"), ("DATABASE_URL", "DATABASE_URL")],
)
def test_production_without_a_required_setting_refuses_to_start_naming_it(missing: str, named: str) -> None:
    env = {name: value for name, value in PRODUCTION.items() if name != missing}
    result = load_settings(**env)
    assert result.returncode != 0
    assert named in result.stderr


def test_production_refuses_a_short_secret_key_without_echoing_it() -> None:
    result = load_settings(**{**PRODUCTION, "SECRET_KEY": "short-but-secret"})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr and "short-but-secret" not in result.stderr


@pytest.mark.parametrize(("mode", "debug"), [("production", False), ("test", False), ("development", True)])
def test_debug_is_on_only_in_development_by_default(mode: str, debug: bool) -> None:
    env = PRODUCTION if mode == "production" else {"LRS_ENV": mode}
    assert settings_of(**env)["DEBUG"] is debug


def test_production_cookies_are_secure_and_metrics_closed_and_no_cors_credentials() -> None:
    shown = settings_of(**PRODUCTION)
    assert shown["SESSION_COOKIE_SECURE"] and shown["CSRF_COOKIE_SECURE"] and shown["SESSION_COOKIE_HTTPONLY"]
    assert shown["X_FRAME_OPTIONS"] == "DENY"
    assert shown["LRS_METRICS_PUBLIC"] is False
    assert not shown["CORS_ALLOW_CREDENTIALS"]


def test_https_redirect_and_hsts_are_settable_for_a_deployment_without_a_proxy_doing_them() -> None:
    """Django's deploy check warns (security.W004, W008) when neither is set. TLS usually ends at a
    proxy, which may redirect and send HSTS itself; where it does not, the LRS must be able to,
    with the probes exempt from the redirect (they come over plain HTTP inside the network)."""
    default = settings_of(**PRODUCTION)
    assert default["SECURE_HSTS_SECONDS"] in (0, None) and not default["SECURE_SSL_REDIRECT"]
    shown = settings_of(**PRODUCTION, LRS_HSTS_SECONDS="31536000", LRS_SSL_REDIRECT="true")
    assert shown["SECURE_HSTS_SECONDS"] == 31536000
    assert shown["SECURE_SSL_REDIRECT"] is True
    exempt = " ".join(shown["SECURE_REDIRECT_EXEMPT"] or [])
    assert all(probe in exempt for probe in ("healthz", "readyz", "metrics"))


def test_the_readme_says_production_trusts_x_forwarded_proto_and_what_the_proxy_must_do() -> None:
    # SECURE_PROXY_SSL_HEADER makes any client's X-Forwarded-Proto: https count as HTTPS: only safe
    # when the proxy in front sets (or strips) that header itself.
    assert settings_of(**PRODUCTION)["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    readme = (ROOT / "README.md").read_text()
    assert "X-Forwarded-Proto" in readme
    assert "LRS_HSTS_SECONDS" in readme and "LRS_SSL_REDIRECT" in readme


@pytest.mark.parametrize(
    ("method", "path"), [("OPTIONS", "/xapi/statements"), ("GET", "/xapi/about"), ("GET", "/xapi/statements")]
)
def test_cors_on_xapi_never_allows_a_browsers_stored_credentials(db, method: str, path: str) -> None:
    """Communication 1.3 (CORS for browser content): content sends its credential in the
    Authorization header it was given; the answer must not tell the browser it may send cookies or
    credentials it stored (Access-Control-Allow-Credentials), or another site could use them."""
    headers = {
        "Origin": "https://evil.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-experience-api-version",
    }
    response = Client().generic(method, path, headers=headers)
    assert response.get("Access-Control-Allow-Origin") in ("*", None)
    assert "Access-Control-Allow-Credentials" not in response


@pytest.mark.parametrize("path", ["/api/identity/employees/E1", "/admin/login/", "/metrics"])
def test_no_cors_outside_xapi(db, path: str) -> None:
    response = Client().get(path, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response
