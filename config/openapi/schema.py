"""Merging the hand-maintained xAPI description into drf-spectacular's document, and the xAPI root.

``merge_xapi_paths`` is a drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS): it adds the
paths, tags and components of ``xapi.yaml`` to the generated document, refusing a component name
both define differently. ``CredentialAuthenticationScheme`` tells drf-spectacular that the DRF
APIs authenticate like the xAPI (HTTP Basic with an LRS credential); it registers itself when this
module is imported, which config/urls.py does. ``XAPIRootView`` answers ``GET /xapi/`` with
where the resources and their description are.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.extensions import OpenApiAuthenticationExtension

from lrs.api.base import XAPIView, json_response
from lrs.api.request import XAPIRequest

XAPI_DOCUMENT = Path(__file__).resolve().parent / "xapi.yaml"
SECURITY_SCHEME = "basicAuth"  # the name xapi.yaml gives HTTP Basic, shared with the DRF APIs


@functools.cache
def xapi_document() -> dict[str, Any]:
    """The hand-maintained xAPI description, read once per process."""
    with XAPI_DOCUMENT.open(encoding="utf-8") as handle:
        document: dict[str, Any] = yaml.safe_load(handle)
    return document


def merge_xapi_paths(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    xapi = copy.deepcopy(xapi_document())
    generated = result.get("paths", {})
    for path in xapi["paths"]:
        if path in generated:
            raise ValueError(f"{path} is described both by xapi.yaml and by a DRF view")
    result["paths"] = {**xapi["paths"], **generated}
    components = result.setdefault("components", {})
    for section, entries in xapi.get("components", {}).items():
        merged = components.setdefault(section, {})
        for name, value in entries.items():
            if name in merged and merged[name] != value:
                raise ValueError(f"components.{section}.{name} is defined differently by xapi.yaml")
            merged[name] = value
    xapi_tags = xapi.get("tags", [])
    named = {tag["name"] for tag in xapi_tags}
    result["tags"] = [*xapi_tags, *(tag for tag in result.get("tags", []) if tag["name"] not in named)]
    return result


class CredentialAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "adapters.identity.api.CredentialAuthentication"
    name = SECURITY_SCHEME

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        definition: dict[str, Any] = xapi_document()["components"]["securitySchemes"][SECURITY_SCHEME]
        return copy.deepcopy(definition)


class XAPIRootView(XAPIView):
    """``GET /xapi/``: the xAPI endpoint itself, answering where its resources are described.

    No authentication and no version header needed, like ``/xapi/about``."""

    http_method_names = ["get", "head", "options"]
    authenticated = False
    version_required = False

    def get(self, request: XAPIRequest) -> HttpResponse:
        return json_response(
            {
                "about": reverse("xapi-about"),
                "statements": reverse("xapi-statements"),
                "openapi": reverse("api-schema"),
                "docs": reverse("api-docs"),
            }
        )
