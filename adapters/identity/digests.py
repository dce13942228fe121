"""The SHA-1 forms of a mailbox: an actor's ``mbox_sha1sum`` is the hex SHA-1 of a ``mailto:`` IRI
(xAPI 1.0.3 Data 2.4.2.3,
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#inversefunctional), the same mailbox
as the ``mbox`` it hashes. One derivation (``mailbox_sha1_keys``) serves resolution (a linked
address's forms, kept as ``IdentityDigest`` rows so a statement by one resolves with one indexed
lookup), the identity history and privacy (``adapters.privacy.subjects``: export and erasure).

A SHA-1 cannot be normalised as an address is (case, ``+alias``, dotless domains): only the
spellings hashed here meet. For a linked address those are the address as linked, as the store
files it (domain lower-cased) and as resolution normalises it (the ``email:`` lookup key's
address: what a client that lower-cases before hashing sends). A moved address takes its forms
along, onto the link of the same key the employee it went to held already, if any (``digests_carry``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from django.db.models import QuerySet

from adapters.models import IdentityDigest, IdentityLink

SHA1_PREFIX = "mbox_sha1sum::"


def mailbox_sha1_keys(*addresses: str) -> set[str]:
    """``mbox_sha1sum::<hex>`` (``lrs.xapi.agents.agent_ifi``'s form) of each address or
    ``mailto:`` IRI, as given and as filed (the domain lower-cased, as ``agent_ifi`` files an
    ``mbox``: Data 2.4.2.3, "The domain portions of email addresses are case insensitive"): the
    SHA-1 of the UTF-8 ``mailto:`` IRI of each spelling."""
    keys = set()
    for given in addresses:
        address = given[7:] if given[:7].lower() == "mailto:" else given
        local, at, domain = address.rpartition("@")
        for spelled in {address, f"{local}{at}{domain.lower()}" if at else address}:
            digest = hashlib.sha1(f"mailto:{spelled}".encode()).hexdigest()  # noqa: S324 (xAPI's choice)
            keys.add(f"{SHA1_PREFIX}{digest}")
    return keys


def link_addresses(link: IdentityLink) -> set[str]:
    """The addresses an e-mail link stands for (none for another kind): as linked (no ``mailto:``)
    and as its lookup key normalises it."""
    if link.kind != "email":
        return set()
    value = link.value.strip()
    return {value[7:] if value[:7].lower() == "mailto:" else value, link.lookup_key.removeprefix("email:")}


def link_sha1_keys(link: IdentityLink) -> set[str]:
    """The SHA-1 forms an e-mail link stands for: of each of its ``link_addresses``."""
    return mailbox_sha1_keys(*link_addresses(link))


def keys_of(links: Iterable[IdentityLink]) -> set[str]:
    """Every key a change of these links touches: their lookup keys and their SHA-1 forms (held
    deliveries wait for either)."""
    return {key for link in links for key in {link.lookup_key, *link_sha1_keys(link)}}


def sha1_links_of(links: Iterable[IdentityLink]) -> set[str]:
    """The lookup keys of the explicit ``mbox_sha1sum`` links among these: an ``mbox`` whose
    mailbox they are the SHA-1 of resolves by them too (``adapters.identity.resolution.agent_keys``),
    so a change of one releases what waits under that address (``holds.deliveries_release``)."""
    return {link.lookup_key for link in links if link.kind == "mbox_sha1sum"}


def digests_derive(employee_ids: Iterable[str]) -> int:
    """Record the SHA-1 forms of these employees' e-mail links that have none yet (links just made:
    a bulk insert that ignores conflicts gives no ids to the links it made). A moved or removed
    link took its own with it (``on_delete``). Returns how many were recorded."""
    employees = sorted(set(employee_ids))
    if not employees:
        return 0
    bare = IdentityLink.objects.filter(employee_id__in=employees, kind="email", digests__isnull=True)
    rows = [
        IdentityDigest(link=link, lookup_key=key)
        for link in bare.only("id", "kind", "value", "lookup_key")
        for key in sorted(link_sha1_keys(link))
    ]
    IdentityDigest.objects.bulk_create(rows, batch_size=2000, ignore_conflicts=True)
    return len(rows)


def digests_of(links: Iterable[IdentityLink]) -> dict[str, set[str]]:
    """Lookup key -> the SHA-1 forms these links stand for: those recorded (a link that took
    another's over in a move holds that one's too, ``digests_carry``) and those derived."""
    chosen = list(links)
    forms = {link.lookup_key: link_sha1_keys(link) for link in chosen}
    recorded = IdentityDigest.objects.filter(link__in=[link.id for link in chosen if link.id])
    for key, form in recorded.values_list("link__lookup_key", "lookup_key"):
        forms.setdefault(key, set()).add(form)
    return forms


def keys_recorded(links: Iterable[IdentityLink]) -> set[str]:
    """``keys_of`` these links and the SHA-1 forms recorded for them (one taken over in a move):
    what their removal touches, read before they are deleted."""
    chosen = list(links)
    return keys_of(chosen).union(*digests_of(chosen).values())


def digests_carry(employee_id: str, forms: dict[str, set[str]]) -> None:
    """Record these SHA-1 forms (``digests_of``: of links moved here) on the employee's links of the
    same lookup keys. A moved address whose key the employee held already, spelled otherwise, is
    not inserted again (``identity_links_move``); its spelling's forms go to the link it held."""
    held = IdentityLink.objects.filter(employee_id=employee_id, lookup_key__in=sorted(forms))
    rows = [
        IdentityDigest(link_id=link_id, lookup_key=form)
        for link_id, key in held.values_list("id", "lookup_key")
        for form in sorted(forms[key])
    ]
    IdentityDigest.objects.bulk_create(rows, batch_size=2000, ignore_conflicts=True)


def links_delete(links: QuerySet[IdentityLink]) -> int:
    """Delete these links, their SHA-1 forms with them; returns how many links (not counting the
    forms, which are no identifiers of their own)."""
    return links.delete()[1].get(IdentityLink._meta.label, 0)
