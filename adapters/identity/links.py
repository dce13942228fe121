"""Identity links: an employee's identifiers, from admin, CSV imports and the identity API:
added (``identity_links_upsert``, PATCH semantics: never duplicated), removed
(``identity_links_remove``) or moved to another employee (``identity_links_move``), each change
recorded in the identity history (``adapters.identity.history``). A linked address brings its
SHA-1 forms (``adapters.identity.digests``), which go and move with it. A change releases the
deliveries held on its keys, an address's SHA-1 forms too (``adapters.identity.holds``), which
are then resolved again.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection, transaction

from adapters.identity import history
from adapters.identity.digests import (
    digests_carry,
    digests_derive,
    digests_of,
    keys_of,
    keys_recorded,
    sha1_links_of,
)
from adapters.identity.holds import deliveries_release, releases_batched
from adapters.identity.resolution import email_lookup_key
from adapters.models import IdentityChange, IdentityLink
from adapters.rules.keys import IDENTITY_LOCK_KEY
from lrs.xapi.agents import agent_ifi
from lrs.xapi.json_types import unstorable


def hold_identity_lock() -> None:
    """Serialise identity changes until the current transaction ends. A writer checks what it is
    about to link against the links it read (the HRIS feed rejects a row that would make an
    identifier ambiguous); two writers at once would each check without the other's links and
    could together link one identifier to two employees. Identity changes are rare: one at a
    time costs nothing that matters. SQLite writes one transaction at a time anyway.

    A drain writing held deliveries takes the lock shared until they commit
    (``adapters.delivery.outcomes._holds_overtaken``), so a change's release (run under the lock,
    before the change commits) misses no hold on its key that the change would have resolved,
    though the release finds such a delivery in flight, not yet held. Either the change committed
    first: the drain, once it has the lock, reads it (its ``IdentityChange`` id is above the last
    one committed before the batch resolved its learners: writers run one at a time under this
    lock and take their ids in it) and runs the delivery again instead of holding it. Or the drain
    committed first: this lock waited for it, and the release, run after, finds the delivery
    held. A change committed before the batch read that last id, its resolution saw."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [IDENTITY_LOCK_KEY])


CSV_COLUMNS = (
    "employee_id",
    "email",
    "account_homepage",
    "account_name",
    "openid",
    "mbox_sha1sum",
    "action",  # add (default), remove, or move (from from_employee_id to employee_id)
    "from_employee_id",
)


class IdentityInputError(ValueError):
    """A link that cannot be made; the message names the field (and CSV line)."""


# What a link holds (IdentityLink's columns): a longer identifier is refused by name, not cut short
# or left to the database (a DataError, which the API would answer 500).
_EMPLOYEE_ID_CHARS = IdentityLink._meta.get_field("employee_id").max_length
_VALUE_CHARS = IdentityLink._meta.get_field("value").max_length
_KEY_CHARS = IdentityLink._meta.get_field("lookup_key").max_length


@dataclass
class Identifiers:
    emails: list[str] = field(default_factory=list)
    accounts: list[dict[str, str]] = field(default_factory=list)  # {"homePage", "name"}
    openids: list[str] = field(default_factory=list)
    mbox_sha1sums: list[str] = field(default_factory=list)


def links_for(employee_id: str, identifiers: Identifiers, source: str) -> list[IdentityLink]:
    links = _links_for(employee_id, identifiers, source)
    counters: dict[str, int] = {}
    fields = {"email": "emails", "account": "accounts", "openid": "openids", "mbox_sha1sum": "mbox_sha1sums"}
    for link in links:
        index = counters[link.kind] = counters.get(link.kind, -1) + 1
        if problem := unstorable(link.value):
            raise IdentityInputError(f"{fields[link.kind]}[{index}]: {problem}")
        if len(link.value) > _VALUE_CHARS or len(link.lookup_key) > _KEY_CHARS:
            raise IdentityInputError(
                f"{fields[link.kind]}[{index}]: longer than an identity link holds "
                f"({_VALUE_CHARS} characters)"
            )
    return links


def _links_for(employee_id: str, identifiers: Identifiers, source: str) -> list[IdentityLink]:
    links = []
    for index, email in enumerate(identifiers.emails):
        try:
            key = email_lookup_key(email)
        except ValueError as exc:
            raise IdentityInputError(f"emails[{index}]: {exc}") from None
        links.append(
            IdentityLink(employee_id=employee_id, kind="email", value=email, lookup_key=key, source=source)
        )
    for index, account in enumerate(identifiers.accounts):
        if not account.get("homePage") or not account.get("name"):
            raise IdentityInputError(f"accounts[{index}]: homePage and name are both required")
        key = agent_ifi({"account": {"homePage": account["homePage"], "name": account["name"]}})
        value = f"{account['homePage']} {account['name']}"
        links.append(
            IdentityLink(employee_id=employee_id, kind="account", value=value, lookup_key=key, source=source)
        )
    for openid in identifiers.openids:
        links.append(
            IdentityLink(
                employee_id=employee_id,
                kind="openid",
                value=openid,
                lookup_key=agent_ifi({"openid": openid}),
                source=source,
            )
        )
    for index, digest in enumerate(identifiers.mbox_sha1sums):
        if len(digest) != 40 or any(char not in "0123456789abcdefABCDEF" for char in digest):
            raise IdentityInputError(f"mbox_sha1sums[{index}]: not a 40-digit hex SHA-1")
        links.append(
            IdentityLink(
                employee_id=employee_id,
                kind="mbox_sha1sum",
                value=digest.lower(),
                lookup_key=agent_ifi({"mbox_sha1sum": digest}),
                source=source,
            )
        )
    return links


@transaction.atomic
def identity_links_upsert(
    *, employee_id: str, identifiers: Identifiers, source: str = "api", changed_by: str = ""
) -> int:
    """Add the identifiers to the employee (existing ones are kept, repeats ignored); returns
    how many links are new. Each new link is recorded in the identity history. Held deliveries
    whose key is now linked are released."""
    hold_identity_lock()
    employee_id = checked_employee_id(employee_id)
    links = links_for(employee_id, identifiers, source)
    keys = {link.lookup_key for link in links}
    existing = set(
        IdentityLink.objects.filter(employee_id=employee_id, lookup_key__in=keys).values_list(
            "lookup_key", flat=True
        )
    )
    fresh = list({link.lookup_key: link for link in links if link.lookup_key not in existing}.values())
    IdentityLink.objects.bulk_create(fresh, ignore_conflicts=True)
    digests_derive([employee_id])
    for link in fresh:
        history.record(
            employee_id=employee_id,
            action=IdentityChange.LINK_ADDED,
            source=source,
            changed_by=changed_by,
            identifier=link.lookup_key,
            after=history.link_state(link),
        )
    deliveries_release(
        keys=keys_of(links),
        sha1_links=sha1_links_of(links),
        addressed=[employee_id] if any(link.kind == "email" for link in fresh) else [],
    )
    return len(fresh)


def checked_employee_id(employee_id: str, field: str = "employee_id") -> str:
    """The employee id stripped, or refused naming ``field`` (what the caller named it: ``from``,
    the employee a move takes identifiers from): empty, unstorable, or longer than the column."""
    employee_id = (employee_id or "").strip()
    if not employee_id:
        raise IdentityInputError(f"{field}: required")
    if problem := unstorable(employee_id):
        raise IdentityInputError(f"{field}: {problem}")
    if len(employee_id) > _EMPLOYEE_ID_CHARS:
        raise IdentityInputError(f"{field}: longer than {_EMPLOYEE_ID_CHARS} characters")
    return employee_id


def _linked(employee_id: str, identifiers: Identifiers, source: str) -> list[IdentityLink]:
    """The employee's links for these identifiers, each of which must be linked to them."""
    wanted = links_for(employee_id, identifiers, source)
    found = {
        link.lookup_key: link
        for link in IdentityLink.objects.select_for_update().filter(
            employee_id=employee_id, lookup_key__in={link.lookup_key for link in wanted}
        )
    }
    missing = [link.value for link in wanted if link.lookup_key not in found]
    if missing:
        raise IdentityInputError(f"identifiers: {', '.join(missing)} not linked to employee {employee_id}")
    return [found[link.lookup_key] for link in wanted]


@dataclass
class Unlinked:
    """An identifier taken from an employee, and the deliveries already made under that mapping."""

    identifier: str
    delivered_under_previous: list[list[str]]


def _recorded(
    link: IdentityLink,
    action: str,
    employee_id: str,
    *,
    source: str,
    changed_by: str,
    after: dict[str, str] | None = None,
) -> Unlinked:
    """A link taken from its employee, in the history with the deliveries made under it."""
    reported = history.delivered_under(link)
    history.record(
        employee_id=employee_id,
        action=action,
        source=source,
        changed_by=changed_by,
        identifier=link.lookup_key,
        before=history.link_state(link),
        after=after,
        delivered_under_previous=reported,
    )
    return Unlinked(link.lookup_key, reported)


@transaction.atomic
def identity_links_remove(
    *, employee_id: str, identifiers: Identifiers, source: str = "api", changed_by: str = ""
) -> list[Unlinked]:
    """Unlink these identifiers from the employee (each must be linked to them, else nothing is
    removed). Deliveries made under the old mapping are reported in the history and returned,
    never rewritten; deliveries held on these keys are resolved again (an ambiguous identifier
    may now be unambiguous)."""
    hold_identity_lock()
    employee_id = checked_employee_id(employee_id)
    links = _linked(employee_id, identifiers, source)
    removed = [
        _recorded(link, IdentityChange.LINK_REMOVED, employee_id, source=source, changed_by=changed_by)
        for link in links
    ]
    keys = keys_recorded(links)  # read before the delete takes their SHA-1 forms with them
    IdentityLink.objects.filter(id__in=[link.id for link in links]).delete()
    deliveries_release(keys=keys, sha1_links=sha1_links_of(links))
    return removed


@transaction.atomic
def identity_links_move(
    *,
    identifiers: Identifiers,
    from_employee_id: str,
    to_employee_id: str,
    source: str = "api",
    changed_by: str = "",
) -> list[Unlinked]:
    """Move these identifiers from one employee to another (each must be linked to the first,
    else nothing moves): a recycled address or a wrong import corrected. Held deliveries on them
    are released (resolved again, now to the second employee); deliveries already made for the
    first are reported (history and result), not rewritten."""
    hold_identity_lock()
    source_employee, target_employee = (
        checked_employee_id(from_employee_id, "from"),
        checked_employee_id(to_employee_id),
    )
    if source_employee == target_employee:
        raise IdentityInputError("from: the identifiers are already linked to this employee")
    links = _linked(source_employee, identifiers, source)
    moved = [
        _recorded(
            link,
            IdentityChange.LINK_MOVED,
            target_employee,
            source=source,
            changed_by=changed_by,
            after={**history.link_state(link), "employee_id": target_employee},
        )
        for link in links
    ]
    forms = digests_of(links)  # read before the delete takes them with the links
    IdentityLink.objects.filter(id__in=[link.id for link in links]).delete()
    IdentityLink.objects.bulk_create(
        [
            IdentityLink(
                employee_id=target_employee,
                kind=link.kind,
                value=link.value,
                lookup_key=link.lookup_key,
                source=source,
            )
            for link in links
        ],
        ignore_conflicts=True,  # the second employee had it too (an ambiguity now resolved)
    )
    digests_carry(target_employee, forms)  # the address's SHA-1 forms move with it
    deliveries_release(
        keys=keys_of(links).union(*forms.values()),
        sha1_links=sha1_links_of(links),
        addressed=[target_employee] if any(link.kind == "email" for link in links) else [],
    )
    return moved


def identity_links_import_csv(
    text: str, *, source: str = "csv", changed_by: str = "", progress: Callable[[int], None] | None = None
) -> dict[str, int]:
    """Import a CSV with columns employee_id,email,account_homepage,account_name,openid,mbox_sha1sum
    (any may be empty but employee_id) and optionally action (add, the default; remove; move,
    with from_employee_id). All-or-nothing; errors name the line and column."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [column for column in ("employee_id",) if column not in (reader.fieldnames or [])]
    unknown = [column for column in reader.fieldnames or [] if column not in CSV_COLUMNS]
    if missing or unknown:
        raise IdentityInputError(
            f"line 1: columns must be among {', '.join(CSV_COLUMNS)} and include employee_id "
            f"(missing: {', '.join(missing) or '-'}; unknown: {', '.join(unknown) or '-'})"
        )
    counts = {"rows": 0, "links_created": 0, "links_removed": 0, "links_moved": 0}
    with transaction.atomic(), releases_batched():  # one release for the file, under the lock
        hold_identity_lock()
        for line, row in enumerate(reader, start=2):
            try:
                if row.get(None):  # cells past the header's columns: dropped silently otherwise
                    raise IdentityInputError(
                        f"more cells than the header's {len(reader.fieldnames or [])} columns"
                    )
                _import_row(row, counts, source=source, changed_by=changed_by)
            except IdentityInputError as exc:
                raise IdentityInputError(f"line {line}: {exc}") from None
            counts["rows"] += 1
            if progress is not None:
                progress(1)
    return counts


def _cell(row: dict[str, str | None], column: str) -> str:
    return (row.get(column) or "").strip()


def _import_row(row: dict[str, str | None], counts: dict[str, int], *, source: str, changed_by: str) -> None:
    identifiers = Identifiers(
        emails=[_cell(row, "email")] if _cell(row, "email") else [],
        accounts=[{"homePage": _cell(row, "account_homepage"), "name": _cell(row, "account_name")}]
        if _cell(row, "account_homepage") or _cell(row, "account_name")
        else [],
        openids=[_cell(row, "openid")] if _cell(row, "openid") else [],
        mbox_sha1sums=[_cell(row, "mbox_sha1sum")] if _cell(row, "mbox_sha1sum") else [],
    )
    action = _cell(row, "action").lower() or "add"
    employee_id = row.get("employee_id") or ""
    if action == "add":
        counts["links_created"] += identity_links_upsert(
            employee_id=employee_id, identifiers=identifiers, source=source, changed_by=changed_by
        )
    elif action == "remove":
        counts["links_removed"] += len(
            identity_links_remove(
                employee_id=employee_id, identifiers=identifiers, source=source, changed_by=changed_by
            )
        )
    elif action == "move":
        if not _cell(row, "from_employee_id"):
            raise IdentityInputError("from_employee_id: required when action is move")
        counts["links_moved"] += len(
            identity_links_move(
                identifiers=identifiers,
                from_employee_id=_cell(row, "from_employee_id"),
                to_employee_id=employee_id,
                source=source,
                changed_by=changed_by,
            )
        )
    else:
        raise IdentityInputError(f"action: {action!r} is not add, remove or move")
