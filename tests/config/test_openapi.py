"""The API description (config/openapi): one valid OpenAPI 3 document at /api/schema/ describing
exactly the routes under /xapi/ and /api/ and the methods their views serve, the xAPI part (kept by
hand in config/openapi/xapi.yaml) agreeing with the parameters the views accept; Swagger UI at
/api/docs/ from files the LRS serves itself (after collectstatic, in production too); and a JSON
answer at the bare /xapi/ instead of a 404."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from openapi_spec_validator import validate
from rest_framework.views import APIView

from config.openapi.schema import xapi_document
from lrs.api import urls as xapi_urls
from lrs.api.base import XAPIView
from lrs.api.documents import ActivityProfileView, AgentProfileView, StateView
from lrs.api.statement_params import LIST_PARAMS, SINGLE_PARAMS
from lrs.xapi.errors import XAPINotFound

ROOT = Path(__file__).resolve().parents[2]
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
DOCUMENTATION_ROUTES = {"api-schema", "api-docs"}  # the description itself is not described


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200, response.content[:500]
    return json.loads(response.content)


# --- what the URL routes serve ------------------------------------------------------------------


def _walk(patterns: list[Any], prefix: str = "") -> list[tuple[str, URLPattern]]:
    found = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found += _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            found.append((prefix + str(pattern.pattern), pattern))
    return found


def view_methods(view_class: type) -> set[str]:
    """The methods a view serves, OPTIONS (CORS preflight) aside.

    An ``XAPIView`` serves a method it lists in ``http_method_names`` and has a handler for, HEAD
    being answered by ``get`` (``XAPIView.dispatch``); anything else is its JSON 405. A DRF view
    serves the methods it has handlers for (``allowed_methods``); the HEAD Django answers with
    ``get`` is not described (drf-spectacular leaves it out)."""
    if issubclass(view_class, XAPIView):
        return {
            method
            for method in view_class.http_method_names
            if method != "options"
            and callable(getattr(view_class, "get" if method == "head" else method, None))
        }
    if issubclass(view_class, APIView):
        return {method.lower() for method in view_class().allowed_methods} - {"options"}
    raise AssertionError(f"{view_class.__name__}: neither an XAPIView nor a DRF view; say what it serves")


def served_routes() -> dict[str, set[str]]:
    """Every route under /xapi/ and /api/ (OpenAPI path) with the methods its view serves."""
    routes: dict[str, set[str]] = {}
    for route, pattern in _walk(get_resolver().url_patterns):
        path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
        if not path.startswith(("/xapi/", "/api/")) or pattern.name in DOCUMENTATION_ROUTES:
            continue
        view_class = getattr(pattern.callback, "view_class", None)
        assert view_class is not None, f"{path}: a function view; make it a class saying its methods"
        routes[path] = view_methods(view_class)
    return routes


def mismatches(document: dict[str, Any], routes: dict[str, set[str]]) -> list[str]:
    """What the document and the routes disagree on, both ways."""
    described = {path: set(item) & HTTP_METHODS for path, item in document["paths"].items()}
    found = []
    for path in sorted(set(routes) | set(described)):
        if path not in described:
            found.append(f"{path}: served but not described")
        elif path not in routes:
            found.append(f"{path}: described but no route serves it")
        else:
            for method in sorted(routes[path] - described[path]):
                found.append(f"{method.upper()} {path}: served but not described")
            for method in sorted(described[path] - routes[path]):
                found.append(f"{method.upper()} {path}: described but the view does not serve it")
    return found


# --- the document -------------------------------------------------------------------------------


def test_the_combined_document_is_valid_openapi_3(document):
    assert document["openapi"].startswith("3.")
    validate(document)


def test_the_drf_views_are_described_without_a_warning_from_drf_spectacular(capsys):
    GENERATOR_STATS.reset()
    SchemaGenerator().get_schema(request=None, public=True)
    assert not GENERATOR_STATS, capsys.readouterr().err  # e.g. a view it cannot guess a body for


def test_the_document_describes_exactly_the_routes_and_methods_served(document):
    assert mismatches(document, served_routes()) == []


def test_every_route_of_the_xapi_urls_is_among_the_routes_checked():
    routes = served_routes()
    for pattern in xapi_urls.urlpatterns:
        assert f"/xapi/{pattern.pattern}" in routes
    assert routes["/xapi/about"] == {"get", "head"}
    assert routes["/xapi/statements"] == {"get", "head", "put", "post"}
    assert routes["/xapi/activities/state"] == {"get", "head", "put", "post", "delete"}


def test_a_missing_or_extra_path_or_method_is_reported():
    document = {"paths": copy.deepcopy(xapi_document()["paths"])}  # config/openapi/xapi.yaml
    routes = {path: methods for path, methods in served_routes().items() if path.startswith("/xapi/")}
    del document["paths"]["/xapi/activities/state"]["delete"]
    document["paths"]["/xapi/about"]["post"] = {"responses": {}}
    document["paths"]["/xapi/nowhere"] = {"get": {"responses": {}}}
    del document["paths"]["/xapi/agents"]
    assert mismatches(document, routes) == [
        "POST /xapi/about: described but the view does not serve it",
        "DELETE /xapi/activities/state: served but not described",
        "/xapi/agents: served but not described",
        "/xapi/nowhere: described but no route serves it",
    ]


def test_the_drf_apis_appear_with_their_methods_and_basic_authentication(document):
    paths = document["paths"]
    expected = {
        "/api/identity/employees/{employee_id}": {"get", "patch", "delete"},
        "/api/identity/hris": {"post"},
        "/api/privacy/erasures": {"post"},
        "/api/privacy/erasures/{erasure_id}": {"get"},
    }
    for path, methods in expected.items():
        assert set(paths[path]) & HTTP_METHODS == methods
        for method in methods:
            assert paths[path][method]["security"] == [{"basicAuth": []}]
    assert document["components"]["securitySchemes"]["basicAuth"]["scheme"] == "basic"


def _parameters(document: dict[str, Any], operation: dict[str, Any]) -> dict[tuple[str, str], dict]:
    found = {}
    for parameter in operation.get("parameters", []):
        if "$ref" in parameter:
            parameter = document["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[1]]
        found[(parameter["in"], parameter["name"])] = parameter
    return found


def _query(document: dict[str, Any], path: str, method: str) -> set[str]:
    operation = document["paths"][path][method]
    return {name for (where, name) in _parameters(document, operation) if where == "query"}


def test_every_xapi_operation_names_the_version_header_and_its_authentication(document):
    for path, item in document["paths"].items():
        if not path.startswith("/xapi/"):
            continue
        for method in set(item) & HTTP_METHODS:
            operation = item[method]
            header = _parameters(document, operation)[("header", "X-Experience-API-Version")]
            public = path in {"/xapi/", "/xapi/about"}
            assert header["required"] is not public, f"{method} {path}"
            assert operation["security"] == ([] if public else [{"basicAuth": []}]), f"{method} {path}"
            if not public:
                assert {"400", "401", "403", "503"} <= set(operation["responses"]), f"{method} {path}"


def test_the_statement_parameters_are_exactly_those_the_view_accepts(document):
    # Communication 2.1.3's table (and the LRS's own paging cursor): lrs/api/statement_params.py.
    for method in ("get", "head"):
        assert _query(document, "/xapi/statements", method) == LIST_PARAMS | SINGLE_PARAMS
    assert _query(document, "/xapi/statements", "put") == {"statementId"}
    assert _query(document, "/xapi/statements", "post") == set()


@pytest.mark.parametrize(
    ("path", "view"),
    [
        ("/xapi/activities/state", StateView),
        ("/xapi/activities/profile", ActivityProfileView),
        ("/xapi/agents/profile", AgentProfileView),
    ],
)
def test_the_document_parameters_are_exactly_those_the_view_accepts(document, path, view):
    keys = set(view.key_params) | {view.id_param}
    for method in ("get", "head"):
        assert _query(document, path, method) == keys | {"since"}
    for method in ("put", "post", "delete"):
        assert _query(document, path, method) == keys


def test_the_activities_and_agents_parameters_are_the_ones_they_read(document):
    for method in ("get", "head"):
        assert _query(document, "/xapi/activities", method) == {"activityId"}
        assert _query(document, "/xapi/agents", method) == {"agent"}
        assert _query(document, "/xapi/about", method) == set()


def test_the_error_body_shape_matches_what_the_lrs_sends(document):
    schema = document["components"]["schemas"]["XAPIError"]
    body = XAPINotFound("no statement", path="statementId", rule="not-found").as_dict()
    assert set(body) == {"error", "path", "rule", "message"}
    assert set(body) <= set(schema["properties"])
    assert set(schema["required"]) == {"error", "message"}
    responses = document["components"]["responses"]
    for status in ("400", "401", "403", "404", "409", "412", "413", "503"):
        used = {
            operation["responses"][status]["$ref"]
            for item in document["paths"].values()
            for operation in item.values()
            if isinstance(operation, dict)
            and status in operation.get("responses", {})
            and "$ref" in operation["responses"][status]
        }
        assert used, f"no xAPI operation answers {status}"
        for ref in used:
            content = responses[ref.rsplit("/", 1)[1]]["content"]["application/json"]
            assert content["schema"] == {"$ref": "#/components/schemas/XAPIError"}


def test_the_document_is_also_served_as_yaml():
    response = Client().get("/api/schema/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert "/xapi/statements" in yaml.safe_load(response.content)["paths"]


# --- the page -----------------------------------------------------------------------------------


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in {"src", "href"} and value]


def _asset_urls(html: str) -> list[str]:
    parser = _Assets()
    parser.feed(html)
    return parser.urls


def test_the_docs_page_is_swagger_ui_from_local_static_files():
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "/api/schema/" in html  # the document it shows
    assets = _asset_urls(html)
    assert any(url.endswith("swagger-ui-bundle.js") for url in assets)
    for url in assets:
        assert url.startswith(settings.STATIC_URL) and settings.STATIC_URL.startswith("/"), url  # no CDN
        assert finders.find(url.removeprefix(settings.STATIC_URL)), url


_PRODUCTION_PAGE = """
import django, re
from django.core.management import call_command
django.setup()
call_command("collectstatic", interactive=False, verbosity=0)
from django.test import Client
client = Client()
page = client.get("/api/docs/")
assert page.status_code == 200, page.status_code
assets = re.findall(r'(?:src|href)="([^"]+)"', page.content.decode())
assert assets
for url in assets:
    served = client.get(url)
    assert served.status_code == 200, (url, served.status_code)
    print(url)
"""


def test_the_docs_page_assets_are_served_after_collectstatic_in_production(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LRS_", "DJANGO_"))}
    env.update(
        LRS_ENV="production",
        SECRET_KEY="openapi-test-openapi-test-openapi-test-0123",
        ALLOWED_HOSTS="testserver",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        STATIC_ROOT=str(tmp_path / "static"),
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    result = subprocess.run(
        [sys.executable, "-c", _PRODUCTION_PAGE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    served = result.stdout.split()
    # Hashed names from the manifest, served by whitenoise.
    assert any(re.search(r"swagger-ui-bundle\.[0-9a-f]{12}\.js$", url) for url in served), served


# --- the xAPI root ------------------------------------------------------------------------------


def test_the_xapi_root_answers_where_the_resources_and_their_description_are():
    client = Client()
    response = client.get("/xapi/")
    assert response.status_code == 200
    assert response["X-Experience-API-Version"] == settings.LRS_DEFAULT_XAPI_VERSION
    links = response.json()
    assert links == {
        "about": "/xapi/about",
        "statements": "/xapi/statements",
        "openapi": "/api/schema/",
        "docs": "/api/docs/",
    }
    assert client.get(links["about"]).status_code == 200
    assert client.get(links["openapi"]).status_code == 200
    head = client.head("/xapi/")
    assert head.status_code == 200 and head.content == b""


def test_the_xapi_root_refuses_other_methods_like_the_other_resources():
    response = Client().post("/xapi/", "{}", content_type="application/json")
    assert response.status_code == 405
    assert response.json()["error"] == "MethodNotAllowed"
