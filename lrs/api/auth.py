"""HTTP Basic authentication of xAPI requests against ``Credential`` rows.

xAPI 1.0.3 Communication 4.1 (Security): every resource but ``/about`` requires
authentication; a missing or wrong credential is 401, a credential whose scopes
do not allow the request is 403.
"""

from __future__ import annotations

import base64
import binascii

from django.http import HttpRequest

from lrs.models import Credential
from lrs.xapi.errors import XAPIUnauthorized


def credential_from_header(authorization: str | None) -> Credential:
    if not authorization:
        raise XAPIUnauthorized("authentication required: send HTTP Basic credentials", rule="auth-missing")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "basic" or not token:
        raise XAPIUnauthorized("only HTTP Basic authentication is supported", rule="auth-scheme")
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise XAPIUnauthorized("malformed Basic credentials", rule="auth-malformed") from None
    key, sep, secret = decoded.partition(":")
    if not sep:
        raise XAPIUnauthorized("malformed Basic credentials", rule="auth-malformed")
    credential = Credential.objects.filter(key=key, is_active=True).first()
    # Hash the secret even for an unknown key so the timing does not reveal which keys exist.
    digest_target = credential or Credential(secret_digest="0" * 64)
    if not digest_target.check_secret(secret) or credential is None:
        raise XAPIUnauthorized("invalid credentials", rule="auth-invalid")
    return credential


def authenticate(request: HttpRequest, authorization: str | None = None) -> Credential:
    return credential_from_header(
        authorization if authorization is not None else request.headers.get("Authorization")
    )
