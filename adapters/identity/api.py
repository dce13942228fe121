"""The identity API, keyed on the employee id. HTTP Basic with an LRS credential that has the
``identity/write`` scope, granted by name (``all`` is the xAPI resources only: it does not include
it); every change is recorded in the identity history under the credential's name.

- ``PATCH /api/identity/employees/<employee_id>`` with
  ``{"emails": [...], "accounts": [{"homePage", "name"}], "openids": [...], "mbox_sha1sums": [...]}``
  adds the identifiers (PATCH semantics: a repeated call never duplicates) and releases deliveries
  held for them; with ``"from": "<other employee id>"`` it moves them from that employee instead
  (each must be linked to it). Unknown fields are refused (400).
- ``DELETE /api/identity/employees/<employee_id>`` with the same identifier lists in the body
  unlinks them. A move or removal answers with the deliveries already made under the old mapping
  (``delivered_under_previous``): reported, not rewritten.
- ``GET`` lists the employee's links.
- ``POST /api/identity/hris`` applies HRIS delta rows (a JSON array, ``{"rows": [...]}``, or
  ``application/x-ndjson``; ``?dry_run=true``), answering one result per row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiRequest,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed, ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from adapters.identity.hris import hris_import, rows_from_objects
from adapters.identity.links import (
    Identifiers,
    IdentityInputError,
    checked_employee_id,
    identity_links_move,
    identity_links_remove,
    identity_links_upsert,
)
from adapters.identity.parsers import NdjsonParser, StrictJSONParser
from adapters.models import IdentityLink
from lrs.api.auth import credential_from_header
from lrs.credentials import scopes
from lrs.xapi.errors import XAPIUnauthorized


class _CredentialUser:
    is_authenticated = True

    def __init__(self, credential: Any) -> None:
        self.credential = credential


class CredentialAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[_CredentialUser, Any]:
        try:
            credential = credential_from_header(request.headers.get("Authorization"))
        except XAPIUnauthorized as exc:
            raise AuthenticationFailed(exc.message) from None
        return _CredentialUser(credential), credential

    def authenticate_header(self, request: Request) -> str:
        return 'Basic realm="lrs"'


class HasIdentityScope(BasePermission):
    message = f"the credential needs the {scopes.IDENTITY_WRITE} scope"

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.auth and request.auth.allows(scopes.IDENTITY_WRITE))


class AccountSerializer(serializers.Serializer):
    homePage = serializers.URLField()
    name = serializers.CharField()


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know (a typo must not be silently ignored)."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        given = self.initial_data if isinstance(self.initial_data, dict) else {}
        unknown = sorted(set(given) - set(self.fields))
        if unknown:
            raise ValidationError({name: ["unknown field"] for name in unknown})
        return attrs


class IdentifiersSerializer(StrictSerializer):
    emails = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    accounts = AccountSerializer(many=True, required=False, default=list)
    openids = serializers.ListField(child=serializers.URLField(), required=False, default=list)
    mbox_sha1sums = serializers.ListField(child=serializers.CharField(), required=False, default=list)


@extend_schema_serializer(component_name="IdentityPatch")
class PatchSerializer(IdentifiersSerializer):
    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        # "from" (a Python keyword): the employee the identifiers move from, making this a move.
        fields["from"] = serializers.CharField(required=False)
        return fields


@extend_schema_serializer(component_name="IdentityLink")
class LinkSerializer(serializers.ModelSerializer):
    class Meta:
        model = IdentityLink
        fields = ("kind", "value", "source", "created_at")


# The API description (config/openapi): what the views below answer, for drf-spectacular.
_REFUSED = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="invalid input: {field: [messages]}"),
    401: OpenApiResponse(OpenApiTypes.OBJECT, description="no credential, or a wrong one: {detail}"),
    403: OpenApiResponse(
        OpenApiTypes.OBJECT,
        description="the credential lacks identity/write (all does not include it): {detail}",
    ),
}


@extend_schema_serializer(component_name="IdentityUnlinked")
class _UnlinkedSerializer(serializers.Serializer):  # Unlinked (adapters/identity/links.py), described
    identifier = serializers.CharField()
    delivered_under_previous = serializers.ListField(child=serializers.ListField())


def _employee_answer(name: str, **fields: serializers.Field) -> Any:
    return inline_serializer(
        name, {"employee_id": serializers.CharField(), **fields, "links": LinkSerializer(many=True)}
    )


def _employee(employee_id: str) -> str:
    """The URL's employee id as the identity service takes it (stripped; a NUL or one too long a
    400 naming employee_id, not the database's error), so the answer names and lists the employee
    acted on: PATCH of ``E1%20`` linked E1 and answered the links of ``E1 `` (none)."""
    with _input_errors():
        checked = checked_employee_id(employee_id)
    return checked


@extend_schema(tags=["identity"])
class EmployeeIdentityView(APIView):
    authentication_classes = [CredentialAuthentication]
    permission_classes = [HasIdentityScope]

    @extend_schema(
        summary="The employee's identity links",
        responses={200: _employee_answer("IdentityLinks"), **_REFUSED},
    )
    def get(self, request: Request, employee_id: str) -> Response:
        employee_id = _employee(employee_id)
        links = IdentityLink.objects.filter(employee_id=employee_id).order_by("kind", "value")
        return Response({"employee_id": employee_id, "links": LinkSerializer(links, many=True).data})

    @extend_schema(
        summary="Add identifiers to the employee, or move them from another (from)",
        request=PatchSerializer,
        responses={
            200: _employee_answer(
                "IdentityLinksAdded",
                created=serializers.IntegerField(required=False, help_text="links new (without from)"),
                moved=_UnlinkedSerializer(many=True, required=False),
            ),
            **_REFUSED,
        },
    )
    def patch(self, request: Request, employee_id: str) -> Response:
        given = PatchSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        employee_id = _employee(employee_id)
        values = dict(given.validated_data)
        source_employee = values.pop("from", None)
        identifiers = Identifiers(**values)
        answer: dict[str, Any] = {"employee_id": employee_id}
        with _input_errors():
            if source_employee is None:
                answer["created"] = identity_links_upsert(
                    employee_id=employee_id, identifiers=identifiers, source="api", changed_by=_who(request)
                )
            else:
                moved = identity_links_move(
                    identifiers=identifiers,
                    from_employee_id=source_employee,
                    to_employee_id=employee_id,
                    source="api",
                    changed_by=_who(request),
                )
                answer["moved"] = [vars(item) for item in moved]
        return Response({**answer, "links": _links(employee_id)}, status=status.HTTP_200_OK)

    @extend_schema(
        summary="Unlink identifiers from the employee",
        description="The body lists the identifiers as for PATCH (emails, accounts, openids, mbox_sha1sums).",
        request=IdentifiersSerializer,
        responses={
            200: _employee_answer("IdentityLinksRemoved", removed=_UnlinkedSerializer(many=True)),
            **_REFUSED,
        },
    )
    def delete(self, request: Request, employee_id: str) -> Response:
        given = IdentifiersSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        employee_id = _employee(employee_id)
        with _input_errors():
            removed = identity_links_remove(
                employee_id=employee_id,
                identifiers=Identifiers(**given.validated_data),
                source="api",
                changed_by=_who(request),
            )
        removed_rows = [vars(item) for item in removed]
        return Response({"employee_id": employee_id, "removed": removed_rows, "links": _links(employee_id)})


@extend_schema(tags=["identity"])
class HrisFeedView(APIView):
    authentication_classes = [CredentialAuthentication]
    permission_classes = [HasIdentityScope]
    parser_classes = [StrictJSONParser, NdjsonParser]

    @extend_schema(
        summary="Apply HRIS delta rows",
        description='A JSON array of rows, {"rows": [...]}, or application/x-ndjson (one row a line).',
        parameters=[OpenApiParameter("dry_run", bool, description="report, changing nothing")],
        request={
            "application/json": OpenApiRequest(OpenApiTypes.ANY),
            "application/x-ndjson": OpenApiRequest(OpenApiTypes.STR),
        },
        responses={
            200: inline_serializer(
                "HrisImport",
                {
                    "dry_run": serializers.BooleanField(),
                    "counts": serializers.DictField(child=serializers.IntegerField()),
                    "results": serializers.ListField(child=serializers.DictField()),
                },
            ),
            **_REFUSED,
        },
    )
    def post(self, request: Request) -> Response:
        data = request.data
        rows = data.get("rows") if isinstance(data, dict) else data
        if not isinstance(rows, list):
            raise ValidationError({"rows": ['a JSON array of rows, {"rows": [...]}, or JSON lines']})
        read = list(rows_from_objects(rows))
        dry_run = request.query_params.get("dry_run", "").lower() in {"1", "true", "yes"}
        results = hris_import(read, dry_run=dry_run, changed_by=_who(request))
        counts = Counter(result.result for result in results)
        return Response(
            {
                "dry_run": dry_run,
                "counts": {name: counts[name] for name in ("created", "updated", "unchanged", "rejected")},
                "results": [result.as_dict() for result in results],
            }
        )


def _who(request: Request) -> str:
    return f"credential:{request.auth.name}" if request.auth is not None else ""


def _links(employee_id: str) -> list[dict[str, Any]]:
    links = IdentityLink.objects.filter(employee_id=employee_id).order_by("kind", "value")
    return LinkSerializer(links, many=True).data


@contextmanager
def _input_errors() -> Iterator[None]:
    try:
        yield
    except IdentityInputError as exc:
        field, _, message = str(exc).partition(": ")
        raise ValidationError({field: [message]}) from None
