"""Identity links (actor identifiers to an employee id) and the OAuth tokens kept for targets."""

from __future__ import annotations

from collections.abc import Callable

from django.db import models


class IdentityLink(models.Model):
    """One identifier of an employee: the link from an xAPI actor to the HRIS employee id.

    ``lookup_key`` is what resolution matches on: ``email:<normalised address>`` for mbox
    identifiers (so aliases and case meet), otherwise the actor's canonical IFI.
    """

    employee_id = models.CharField(max_length=200, db_index=True)
    kind = models.CharField(max_length=20)  # email, mbox_sha1sum, openid, account
    value = models.CharField(max_length=500)
    lookup_key = models.CharField(max_length=600)
    source = models.CharField(max_length=20, default="admin")  # admin, csv, api
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["employee_id", "lookup_key"], name="identity_link_once"),
        ]
        indexes = [models.Index(fields=["lookup_key"], name="identity_lookup")]

    def __str__(self) -> str:
        return f"{self.employee_id} <- {self.kind} {self.value}"


class IdentityDigest(models.Model):
    """The SHA-1 form of a linked e-mail address: an actor identified by ``mbox_sha1sum``, the hex
    SHA-1 of a ``mailto:`` IRI, names the same mailbox (xAPI 1.0.3 Data 2.4.2.3,
    https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#inversefunctional), so it resolves
    to the address's employee as if that SHA-1 were linked to them. Derived when the address is
    linked (``adapters.identity.digests``), gone with the link (unlinked, moved, erased).

    ``lookup_key``: ``mbox_sha1sum::<40 lower-case hex>``, the form resolution matches."""

    link = models.ForeignKey(IdentityLink, on_delete=models.CASCADE, related_name="digests")
    lookup_key = models.CharField(max_length=60)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["link", "lookup_key"], name="identity_digest_once"),
        ]
        indexes = [models.Index(fields=["lookup_key"], name="identity_digest_lookup")]

    def __str__(self) -> str:
        return f"{self.lookup_key} -> {self.link_id}"


class StoredToken(models.Model):
    """A rotating credential the LRS must keep (e.g. a Microsoft refresh token, renewed on every
    use), encrypted with a key derived from SECRET_KEY; see adapters/msteams/token_store.py."""

    key = models.CharField(max_length=200, unique=True)
    ciphertext = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.key


class Employee(models.Model):
    """An employee as the HRIS feed last described them (``manage.py import_hris``, the HRIS API).

    ``terminated_on``: from this date on (UTC, by statement timestamp) the employee's statements
    are held with reason "terminated" instead of sent, unless a target opts in
    (``include_terminated``). Set by a row with status terminated, cleared by a re-hire (status
    active), which releases nothing held: an admin decides (adapters/identity/terminations.py).
    """

    ACTIVE = "active"
    TERMINATED = "terminated"
    STATUSES = [(ACTIVE, "active"), (TERMINATED, "terminated")]

    employee_id = models.CharField(max_length=200, unique=True)
    status = models.CharField(max_length=12, choices=STATUSES, default=ACTIVE)
    effective_date = models.DateField(null=True, blank=True, help_text="of the latest status")
    terminated_on = models.DateField(null=True, blank=True)
    manager_id = models.CharField(max_length=200, blank=True)
    department = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.employee_id} ({self.status})"


class IdentityChange(models.Model):
    """Append-only history of the identity map: every link added, removed or moved and every
    employee record change, with who made it, from where, and what it was before and after.
    ``delivered_under_previous``: for a link removed or moved away, the deliveries already made
    under the old mapping ([target, statement id] pairs, capped), reported and never rewritten:
    an operator decides with the reconciliation tools."""

    LINK_ADDED = "link_added"
    LINK_REMOVED = "link_removed"
    LINK_MOVED = "link_moved"
    EMPLOYEE_CREATED = "employee_created"
    EMPLOYEE_UPDATED = "employee_updated"
    ACTIONS = [
        (LINK_ADDED, "identifier linked"),
        (LINK_REMOVED, "identifier unlinked"),
        (LINK_MOVED, "identifier moved"),
        (EMPLOYEE_CREATED, "employee created"),
        (EMPLOYEE_UPDATED, "employee updated"),
    ]

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    employee_id = models.CharField(max_length=200, db_index=True)
    action = models.CharField(max_length=20, choices=ACTIONS)
    identifier = models.CharField(max_length=600, blank=True)
    source = models.CharField(max_length=20)  # admin, csv, api, hris
    changed_by = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    delivered_under_previous = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.employee_id} {self.action} {self.identifier}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise ValueError("the identity history is append-only")
        super().save(*args, **kwargs)  # type: ignore[arg-type]


# Held keys a change resolves only by naming them (``IdentityChange.identifier`` is the lookup key):
# an address, an account, an OpenID. Any other (a SHA-1, which a link of an address resolves too; a
# long key's digest; an employee's "terminated:" key) may be resolved by any change. Two changes
# resolve holds under keys they do not name: an explicit SHA-1 link, an address's (an ``mbox``
# resolves through the links of its mailbox's SHA-1 forms too: ``resolution.agent_keys``); and an
# address linked to an employee, a hold for want of one (``NO_ADDRESS``, under the actor's key).
_NAMED_KEY_PREFIXES = ("email:", "mbox::", "account::", "openid::")
_SHA1_PREFIX = "mbox_sha1sum::"
_CHANGES_READ = 10_000  # more since (an import): every hold counts as overtaken
# The reason of a hold for an employee with no e-mail address (``adapters.identity.resolution``).
NO_ADDRESS = "no e-mail address"
# An ambiguous hold's reason names every key it resolved by: an anonymous Group's, each member's,
# though it is held under the first's (a change of another member's link may resolve it).
_AMBIGUOUS = "ambiguous identity"


def holds_overtaken_by(seen: int) -> Callable[[int, str, str], bool]:
    """Whether a hold resolved after change ``seen`` (its own, at least this) for a key, with a
    reason (the held outcome's error), may be resolved by a change committed since: one query, the
    changes after ``seen``."""
    rows = list(IdentityChange.objects.filter(id__gt=seen).values_list("id", "identifier")[:_CHANGES_READ])
    if len(rows) == _CHANGES_READ:
        return lambda own_seen, key, reason: True

    def overtaken(own_seen: int, key: str, reason: str) -> bool:
        since = {identifier for change_id, identifier in rows if change_id > own_seen}
        return bool(since) and (
            key in since
            or not key.startswith(_NAMED_KEY_PREFIXES)
            or (key.startswith("email:") and any(each.startswith(_SHA1_PREFIX) for each in since))
            or (reason.startswith(NO_ADDRESS) and any(each.startswith("email:") for each in since))
            or (reason.startswith(_AMBIGUOUS) and _names_any(reason, since))
        )

    return overtaken


def _names_any(reason: str, identifiers: set[str]) -> bool:
    """An ambiguous hold's reason names one of these keys (its keys are listed before "is linked
    to": as text, since an account's name may hold a comma; a longer key that contains one re-runs
    the hold needlessly, no more), or, naming an address, a SHA-1 link changed (a member's ``mbox``
    resolves through its mailbox's SHA-1 links)."""
    named = reason.partition(": ")[2].split(" is linked to ", 1)[0]
    return any(each and each in named for each in identifiers) or (
        "email:" in named and any(each.startswith(_SHA1_PREFIX) for each in identifiers)
    )
