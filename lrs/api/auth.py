"""HTTP Basic authentication of xAPI requests against ``Credential`` rows.

xAPI 1.0.3 Communication 4.1 (Security): every resource but ``/about`` requires
authentication; a missing or wrong credential is 401, a credential whose scopes
do not allow the request is 403. A 401 names the scheme to use in ``WWW-Authenticate``
(RFC 9110 11.6.1, https://www.rfc-editor.org/rfc/rfc9110#section-11.6.1; RFC 7617 for Basic),
with the realm the identity API names too.
"""

from __future__ import annotations

import base64
import threading
import time

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest

from lrs.credentials.models import Credential
from lrs.xapi.errors import XAPIUnauthorized

WWW_AUTHENTICATE = 'Basic realm="lrs"'  # RFC 7617 section 2; the header of every 401


def credential_from_header(authorization: str | None) -> Credential:
    if not authorization:
        raise XAPIUnauthorized("authentication required: send HTTP Basic credentials", rule="auth-missing")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "basic" or not token:
        raise XAPIUnauthorized("only HTTP Basic authentication is supported", rule="auth-scheme")
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except ValueError:  # binascii.Error, a token with non-ASCII characters, a decoding not UTF-8
        raise XAPIUnauthorized("malformed Basic credentials", rule="auth-malformed") from None
    key, sep, secret = decoded.partition(":")
    if not sep:
        raise XAPIUnauthorized("malformed Basic credentials", rule="auth-malformed")
    credential = _active_credential(key)
    # Hash the secret even for an unknown key so the timing does not reveal which keys exist.
    digest_target = credential or Credential(secret_digest="0" * 64)
    if not digest_target.check_secret(secret) or credential is None:
        raise XAPIUnauthorized("invalid credentials", rule="auth-invalid")
    return credential


# Every xAPI request authenticates; a short per-process cache saves that query. A credential
# changed in this process is dropped at once (signals below); other processes see the change
# within LRS_CREDENTIAL_CACHE_SECONDS.
_cache: dict[str, tuple[float, Credential | None]] = {}
_cache_lock = threading.Lock()


def _active_credential(key: str) -> Credential | None:
    ttl = settings.LRS_CREDENTIAL_CACHE_SECONDS
    now = time.monotonic()
    if ttl > 0:
        hit = _cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
    credential = Credential.objects.filter(key=key, is_active=True).first()
    if ttl > 0 and credential is not None:
        with _cache_lock:
            if len(_cache) > 10_000:
                _cache.clear()
            _cache[key] = (now + ttl, credential)
    return credential


@receiver([post_save, post_delete], sender=Credential, dispatch_uid="lrs.credential_cache")
def _forget_credential(sender: type, instance: Credential, **kwargs: object) -> None:
    with _cache_lock:
        _cache.clear()


def authenticate(request: HttpRequest, authorization: str | None = None) -> Credential:
    return credential_from_header(
        authorization if authorization is not None else request.headers.get("Authorization")
    )
