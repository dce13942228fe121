"""How a webhook request is signed: Standard Webhooks (the default) or the LRS's own ``lrs-v1``.

``standard`` (https://www.standardwebhooks.com): ``webhook-id`` (the delivery's idempotency key,
the same on every retry), ``webhook-timestamp`` (unix seconds of this attempt) and
``webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>``, signed with the
``standardwebhooks`` library so that any of the specification's libraries verifies it. The key:
a ``whsec_<base64>`` secret is base64-decoded, as the specification serialises keys; any other
secret is its UTF-8 bytes, so the secret of a target made before Standard Webhooks keeps working
(a receiver gives the library ``secret.encode()`` instead of the string).

``lrs-v1``: ``X-LRS-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``, byte for
byte what receivers built before Standard Webhooks verify; the secret's text is the key, whatever
it looks like.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import UTC, datetime

from standardwebhooks import Webhook

from adapters.secrets import SecretUnavailable

STANDARD = "standard"
LRS_V1 = "lrs-v1"
SCHEMES = (STANDARD, LRS_V1)
SECRET_PREFIX = "whsec_"
LRS_V1_HEADER = "X-LRS-Signature"


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    """The ``lrs-v1`` header value."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def standard_key(secret: str) -> bytes:
    """The HMAC key a secret stands for under Standard Webhooks (module docstring).

    Raises ``SecretUnavailable`` for a ``whsec_`` secret that is not base64 or is empty: its
    message names the field and the expected form, never the value (it ends up in the admin).
    """
    if not secret.startswith(SECRET_PREFIX):
        key = secret.encode()
    else:
        encoded = secret.removeprefix(SECRET_PREFIX)
        try:
            # Padding is optional: some senders print whsec_ keys without it (the library accepts both).
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            key = b""
    if not key:
        raise SecretUnavailable(
            "secret: give whsec_ followed by the base64 of the key (Standard Webhooks), or any other "
            "non-empty text (its UTF-8 bytes are the key)"
        )
    return key


def standard_signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,<base64>``."""
    return Webhook(key).sign(msg_id, datetime.fromtimestamp(timestamp, tz=UTC), body.decode())


def signature_headers(scheme: str, secret: str, msg_id: str, body: bytes, timestamp: int) -> dict[str, str]:
    """The headers that sign ``body`` under ``scheme`` at ``timestamp`` (unix seconds)."""
    if scheme == LRS_V1:
        return {LRS_V1_HEADER: signature_header(secret, body, timestamp)}
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signature(standard_key(secret), msg_id, timestamp, body),
    }
