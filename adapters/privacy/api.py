"""The privacy API for DSAR tooling, under its own ``privacy`` scope (``all`` does not include it):

- ``POST /api/privacy/erasures`` with ``{"agent": {...}}`` or ``{"employee_id": "..."}``, and
  optionally ``"mode": "delete" | "pseudonymise"`` (default delete) and ``"dry_run": true``:
  erases the person (adapters/privacy/erasure.py) and answers with the request, its counts per
  store area and per target (201; 200 for a repeat of an earlier erasure or a dry run).
- ``GET /api/privacy/erasures/<id>``: that request now (``retracting`` until every target's
  retraction settled, then ``done``).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from adapters.identity.api import CredentialAuthentication, StrictSerializer
from adapters.models import ErasureRequest
from adapters.privacy.erasure import MODES, ErasureOutcome, erase_subject
from adapters.privacy.subjects import SubjectError, subject_for
from lrs.credentials import scopes


class HasPrivacyScope(BasePermission):
    message = f"the credential needs the {scopes.PRIVACY} scope"

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.auth and request.auth.allows(scopes.PRIVACY))


@extend_schema_serializer(component_name="ErasureOrder")
class ErasureSerializer(StrictSerializer):
    agent = serializers.JSONField(required=False)
    employee_id = serializers.CharField(required=False)
    mode = serializers.ChoiceField(choices=MODES, default=ErasureRequest.DELETE)
    dry_run = serializers.BooleanField(default=False)


def _shown(request: ErasureRequest) -> dict[str, Any]:
    return {
        "id": request.pk,
        "requested_at": request.requested_at,
        "requested_by": request.requested_by,
        "mode": request.mode,
        "status": request.status,
        "finished_at": request.finished_at,
        "counts": request.counts,
        "targets": request.targets,
    }


# The API description (config/openapi): what the views below answer, for drf-spectacular.
_ERASURE = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description="the erasure request: id, requested_at, requested_by, mode, status, finished_at, "
    "counts (per store area), targets (per target), and on POST repeated",
)
_REFUSED = {
    401: OpenApiResponse(OpenApiTypes.OBJECT, description="no credential, or a wrong one: {detail}"),
    403: OpenApiResponse(OpenApiTypes.OBJECT, description="the credential lacks the privacy scope: {detail}"),
}


@extend_schema(tags=["privacy"])
class ErasuresView(APIView):
    authentication_classes = [CredentialAuthentication]
    permission_classes = [HasPrivacyScope]

    @extend_schema(
        summary="Erase a person (an agent or an employee id)",
        request=ErasureSerializer,
        responses={
            201: _ERASURE,
            200: OpenApiResponse(
                OpenApiTypes.OBJECT, description="a repeat of an earlier erasure, or a dry run's plan"
            ),
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="invalid input: {field: [messages]}"),
            **_REFUSED,
        },
    )
    def post(self, request: Request) -> Response:
        given = ErasureSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        values = given.validated_data
        try:
            subject = subject_for(agent=values.get("agent"), employee_id=values.get("employee_id"))
        except SubjectError as exc:
            raise ValidationError({"agent" if "agent" in values else "employee_id": [str(exc)]}) from None
        result = erase_subject(
            subject,
            mode=values["mode"],
            requested_by=f"credential:{request.auth.name}",
            dry_run=values["dry_run"],
        )
        if not isinstance(result, ErasureOutcome):
            return Response(result.as_dict())
        answer = {**_shown(result.request), "repeated": result.repeated}
        return Response(answer, status=status.HTTP_200_OK if result.repeated else status.HTTP_201_CREATED)


@extend_schema(tags=["privacy"])
class ErasureView(APIView):
    authentication_classes = [CredentialAuthentication]
    permission_classes = [HasPrivacyScope]

    @extend_schema(
        summary="An erasure request now",
        responses={
            200: _ERASURE,
            404: OpenApiResponse(OpenApiTypes.OBJECT, description="no such erasure request: {detail}"),
            **_REFUSED,
        },
    )
    def get(self, request: Request, erasure_id: int) -> Response:
        found = ErasureRequest.objects.filter(pk=erasure_id).first()
        if found is None:
            raise NotFound(f"no erasure request {erasure_id}")
        return Response(_shown(found))
