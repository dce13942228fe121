from django.contrib import admin
from django.urls import include, path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from adapters.identity.api import EmployeeIdentityView, HrisFeedView
from adapters.ops.metrics import metrics_view
from adapters.privacy.api import ErasuresView, ErasureView
from config.health import healthz, readyz
from config.not_found import not_found
from config.openapi.schema import XAPIRootView

# A URL under /xapi/ or /api/ naming no resource: a JSON 404 (config/not_found.py).
handler404 = not_found


class EmployeeIdConverter:
    """An HRIS employee id in a URL: it may hold a slash (DE/1234, as the feed and the CSV import
    take it) but neither begin nor end with one. ``<path:>`` took the rest of the URL whole, so a
    trailing slash named another employee (``E1/``: GET answered that E1 had no links, PATCH linked
    a phantom); such a URL is the JSON 404 it was before ids could hold a slash."""

    regex = r"(?!/).+(?<!/)"  # as <path:>, but no slash first or last

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(EmployeeIdConverter, "employee_id")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("xapi/", XAPIRootView.as_view(), name="xapi-root"),
    path("xapi/", include("lrs.api.urls")),
    path("metrics", metrics_view, name="metrics"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    # An HRIS employee id may hold a slash (DE/1234), never at either end (EmployeeIdConverter).
    path(
        "api/identity/employees/<employee_id:employee_id>",
        EmployeeIdentityView.as_view(),
        name="identity-employee",
    ),
    path("api/identity/hris", HrisFeedView.as_view(), name="identity-hris"),
    path("api/privacy/erasures", ErasuresView.as_view(), name="privacy-erasures"),
    path("api/privacy/erasures/<int:erasure_id>", ErasureView.as_view(), name="privacy-erasure"),
    # The API description (config/openapi): OpenAPI 3 (YAML, ?format=json for JSON) and Swagger UI.
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
