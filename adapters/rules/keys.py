"""Keys that must fit a column or a target's limit, whatever they are built from.

A key built from an actor identifier or an activity IRI (up to 2048 bytes,
``lrs/xapi/identifier_lengths.py``), an employee id or a competency code can be longer than the
place that keeps it. ``fitted`` gives such a key in a stable short form, its SHA-256 digest, and
leaves a key that fits as it is, so keys written before stay what they were.
"""

from __future__ import annotations

import hashlib

DIGEST_PREFIX = "sha256:"
# ``Delivery.held_key`` holds 500 characters; the usual key is the actor's lookup key.
HELD_KEY_LIMIT = 500
# Any constant: the PostgreSQL advisory-lock key (pg_advisory_xact_lock) identity writers take
# exclusively (``adapters.identity.links.hold_identity_lock``) and a drain writing held deliveries
# takes shared (``adapters.delivery.outcomes``), so that a hold and a link for its key are ordered.
IDENTITY_LOCK_KEY = 0x1D_E7_17_1E5


def fitted(key: str, limit: int, *, ascii_only: bool = False) -> str:
    """``key`` when it has at most ``limit`` characters (and, ``ascii_only``, is printable ASCII),
    else ``sha256:`` and its hex digest (71 characters)."""
    if len(key) <= limit and (not ascii_only or (key.isascii() and key.isprintable())):
        return key
    return DIGEST_PREFIX + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def held_key_of(key: str) -> str:
    """How a delivery held for ``key`` records it (``Delivery.held_key``): a bulk outcome write
    with a key too long for the column failed for the whole batch. Whoever releases or cancels
    held deliveries by key (a new identity link, an erasure) looks them up by this form."""
    return fitted(key, HELD_KEY_LIMIT)
