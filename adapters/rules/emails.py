"""E-mail addresses as matching keys: one canonical form per mailbox.

An xAPI Agent's ``mbox`` is a ``mailto:`` IRI (Data 2.4.2.3,
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#2423-inverse-functional-identifier:
"The required format is "mailto:email address""); downstream systems such as the
marketplace key members by a plain, lower-case address. This module turns either
form into that key. It is pure Python: no Django, no database, no DNS.

Accepted addresses are the common ``dot-atom@domain`` form of RFC 5322 3.4.1
(letters, digits, ``!#$%&'*+/=?^_`{|}~-``, dots not leading, trailing or doubled,
non-ASCII letters as RFC 6531 allows) at a domain of at least two labels. Quoted
local parts (``"john doe"@example.com``) and address literals (``user@[192.0.2.1]``)
are rejected: they do not occur as learner identities.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

#: Domains whose mailboxes ignore dots in the local part (``j.doe@gmail.com`` is ``jdoe@gmail.com``).
DOTLESS_DOMAINS: frozenset[str] = frozenset({"gmail.com", "googlemail.com"})

_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uffff-]+"
_LOCAL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*\Z")
_LABEL = r"(?!-)[a-z0-9\u00a1-\uffff-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+\Z")
_MAX_LENGTH = 254  # RFC 5321 4.5.3.1.3 path limit, less the angle brackets


def normalise_email(
    value: str,
    *,
    strip_plus_aliases: bool = True,
    dotless_domains: frozenset[str] = DOTLESS_DOMAINS,
) -> str:
    """The canonical form of an address or ``mailto:`` IRI, for matching people across systems.

    * a ``mailto:`` prefix (any case) is removed and the IRI's percent-escapes decoded;
      a ``mailto:`` IRI with ``?hfields`` is rejected (xAPI forbids them in ``mbox``);
    * surrounding whitespace is removed and the whole address lower-cased (RFC 5321
      lets the local part be case-sensitive; no real mail provider treats it so);
    * ``strip_plus_aliases``: ``jane+lrs@example.com`` -> ``jane@example.com`` (the
      sub-address after the first ``+``; kept when nothing precedes the ``+``);
    * for a domain in ``dotless_domains`` the dots of the local part are removed
      (``Jane.Doe+x@GMail.com`` -> ``janedoe@gmail.com``).

    Raises ValueError, naming the value, for anything that is not a single address.
    """
    if not isinstance(value, str):
        raise ValueError(f"not an e-mail address: {value!r} (a {type(value).__name__}, not a string)")
    text = value.strip()
    if text[:7].lower() == "mailto:":
        if "?" in text:
            raise ValueError(f"not an e-mail address: {value!r} (a mailto IRI with ?hfields)")
        text = unquote(text[7:])
    local, at, domain = text.lower().rpartition("@")
    if not at or len(text) > _MAX_LENGTH or len(local) > 64 or any(char.isspace() for char in text):
        raise ValueError(f"not an e-mail address: {value!r}")
    if _LOCAL.match(local) is None:
        raise ValueError(f"not an e-mail address: {value!r} (invalid local part {local!r})")
    if _DOMAIN.match(domain) is None or domain.rpartition(".")[2].isdigit():
        raise ValueError(f"not an e-mail address: {value!r} (invalid domain {domain!r})")
    if strip_plus_aliases and "+" in local[1:]:
        local = local[: local.index("+", 1)]
    if domain in {entry.lower() for entry in dotless_domains}:
        local = local.replace(".", "") or local
    return f"{local}@{domain}"


def email_from_actor(
    actor: dict[str, Any] | None,
    *,
    strip_plus_aliases: bool = True,
    dotless_domains: frozenset[str] = DOTLESS_DOMAINS,
) -> str | None:
    """The canonical address (see :func:`normalise_email`) of an Agent or identified Group's ``mbox``.

    None when the actor has no ``mbox`` (identified by ``mbox_sha1sum``, ``openid`` or
    ``account`` instead, or an anonymous Group: its members are not the group). A
    Group's members are never consulted. Raises ValueError for an ``mbox`` that is not
    an address, rather than hiding a data problem.
    """
    if not isinstance(actor, dict):
        return None
    mbox = actor.get("mbox")
    if mbox is None:
        return None
    return normalise_email(mbox, strip_plus_aliases=strip_plus_aliases, dotless_domains=dotless_domains)
