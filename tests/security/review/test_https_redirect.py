"""LRS_SSL_REDIRECT (3789048): tests/security/test_production_settings.py checks that the probes'
names appear in SECURE_REDIRECT_EXEMPT, which a pattern that never matches (``^/healthz$``: Django
matches the path without its leading slash) would pass as well. Here the production values are
applied to requests: plain-HTTP probes and metrics scrapes are answered, everything else is
redirected, and a request the proxy marks as HTTPS is served with HSTS."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from tests.security.test_production_settings import PRODUCTION, settings_of

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def production_https() -> dict:
    shown = settings_of(**PRODUCTION, LRS_HSTS_SECONDS="31536000", LRS_SSL_REDIRECT="true")
    return {
        "SECURE_SSL_REDIRECT": shown["SECURE_SSL_REDIRECT"],
        "SECURE_REDIRECT_EXEMPT": shown["SECURE_REDIRECT_EXEMPT"],
        "SECURE_HSTS_SECONDS": shown["SECURE_HSTS_SECONDS"],
        "SECURE_PROXY_SSL_HEADER": tuple(shown["SECURE_PROXY_SSL_HEADER"]),
    }


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_probes_over_plain_http_are_not_redirected(production_https: dict, path: str) -> None:
    with override_settings(**production_https, LRS_METRICS_PUBLIC=True):
        response = Client().get(path)
    assert response.status_code != 301, response.get("Location")


@pytest.mark.parametrize("path", ["/xapi/about", "/healthz/extra", "/admin/login/"])
def test_everything_else_over_plain_http_is_redirected_to_https(production_https: dict, path: str) -> None:
    with override_settings(**production_https):
        response = Client().get(path)
    assert response.status_code == 301
    assert response["Location"].startswith("https://")


def test_a_request_the_proxy_marks_https_is_served_with_hsts(production_https: dict) -> None:
    with override_settings(**production_https):
        response = Client().get("/xapi/about", headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 200
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
