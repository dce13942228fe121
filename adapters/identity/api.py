"""The identity API: upsert an employee's identifiers, keyed on the employee id.

``PATCH /api/identity/employees/<employee_id>`` with
``{"emails": [...], "accounts": [{"homePage", "name"}], "openids": [...], "mbox_sha1sums": [...]}``
adds the identifiers (PATCH semantics: a repeated import never duplicates) and releases
deliveries held for them; ``GET`` lists the employee's links. HTTP Basic with an LRS
credential that has the ``identity/write`` scope.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed, ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from adapters.identity.links import Identifiers, IdentityInputError, identity_links_upsert
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


class IdentifiersSerializer(serializers.Serializer):
    emails = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    accounts = AccountSerializer(many=True, required=False, default=list)
    openids = serializers.ListField(child=serializers.URLField(), required=False, default=list)
    mbox_sha1sums = serializers.ListField(child=serializers.CharField(), required=False, default=list)


class LinkSerializer(serializers.ModelSerializer):
    class Meta:
        model = IdentityLink
        fields = ("kind", "value", "source", "created_at")


class EmployeeIdentityView(APIView):
    authentication_classes = [CredentialAuthentication]
    permission_classes = [HasIdentityScope]

    def get(self, request: Request, employee_id: str) -> Response:
        links = IdentityLink.objects.filter(employee_id=employee_id).order_by("kind", "value")
        return Response({"employee_id": employee_id, "links": LinkSerializer(links, many=True).data})

    def patch(self, request: Request, employee_id: str) -> Response:
        given = IdentifiersSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            created = identity_links_upsert(
                employee_id=employee_id, identifiers=Identifiers(**given.validated_data), source="api"
            )
        except IdentityInputError as exc:
            field, _, message = str(exc).partition(": ")
            raise ValidationError({field: [message]}) from None
        links = IdentityLink.objects.filter(employee_id=employee_id).order_by("kind", "value")
        return Response(
            {"employee_id": employee_id, "created": created, "links": LinkSerializer(links, many=True).data},
            status=status.HTTP_200_OK,
        )
