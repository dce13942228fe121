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
from django.utils import timezone

from lrs.credentials.current import with_expiry
from lrs.credentials.models import Credential
from lrs.xapi.errors import XAPIUnauthorized

WWW_AUTHENTICATE = 'Basic realm="lrs"'  # RFC 7617 section 2; the header of every 401


def credential_from_header(authorization: str | None, *, cached: bool = False) -> Credential:
    """The active credential the header names, with its secret checked. ``cached``: this process's
    copy may do (``LRS_CREDENTIAL_CACHE_SECONDS``), for a request whose write checks it is still the
    stored one (``lrs.credentials.current``); otherwise it is read from the database, so that a
    credential revoked in any process is refused at once."""
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
    credential = _active_credential(key, cached=cached)
    if cached and credential is not None and not _admits(credential, secret):
        # This process's copy refuses, but another process may have given the credential a new
        # secret or a later expiry: the stored row decides (a revocation the write catches).
        credential = _active_credential(key, cached=False)
    # Hash the secret even for an unknown key so the timing does not reveal which keys exist.
    digest_target = credential or Credential(secret_digest="0" * 64)
    if not digest_target.check_secret(secret) or credential is None:
        raise XAPIUnauthorized("invalid credentials", rule="auth-invalid")
    # Said only to a caller who sent the right secret: it knows the credential already. The
    # database's clock decides, as the write's check (``lrs.credentials.current``) does: a copy
    # this process cached, admitted by its own clock, is refused by the write if expired since,
    # then read again here.
    if credential.expired_by_database:
        raise XAPIUnauthorized("the credential has expired: ask for a new one", rule="auth-expired")
    return credential


def _admits(credential: Credential, secret: str) -> bool:
    """Whether the cached copy may do; this process's clock only sends an expiry it sees to the
    database's to decide (``credential_from_header``)."""
    return credential.check_secret(secret) and not credential.expired(timezone.now())


# A statement POST or PUT may authenticate from this per-process cache, saving a round trip on the
# ingest path: its write checks the credential against the stored row in the same SQL statement or
# transaction (lrs.credentials.current) and, if another process changed or revoked it, writes
# nothing (the request is then authenticated again from the database). Every other request reads
# the credential from the database, and refreshes the cache. A change in this process clears it.
_cache: dict[str, tuple[float, Credential]] = {}
_cache_lock = threading.Lock()


def _active_credential(key: str, *, cached: bool) -> Credential | None:
    ttl = settings.LRS_CREDENTIAL_CACHE_SECONDS
    now = time.monotonic()
    if cached and ttl > 0:
        hit = _cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
    credential = with_expiry(Credential.objects.filter(key=key, is_active=True)).first()
    if ttl > 0:
        with _cache_lock:
            if credential is None:
                _cache.pop(key, None)
            else:
                if len(_cache) > 10_000:
                    _cache.clear()
                _cache[key] = (now + ttl, credential)
    return credential


def forget_credential(key: str) -> None:
    """Drop this process's copy of a credential (a write found it changed: ``CredentialChanged``)."""
    with _cache_lock:
        _cache.pop(key, None)


@receiver([post_save, post_delete], sender=Credential, dispatch_uid="lrs.credential_cache")
def _forget_credential(sender: type, instance: Credential, **kwargs: object) -> None:
    with _cache_lock:
        _cache.clear()


def authenticate(
    request: HttpRequest, authorization: str | None = None, *, cached: bool = False
) -> Credential:
    return credential_from_header(
        authorization if authorization is not None else request.headers.get("Authorization"), cached=cached
    )
