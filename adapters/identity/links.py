"""Identity links: an employee's identifiers, from admin, CSV imports and the identity API, all
through ``identity_links_upsert`` (PATCH semantics: identifiers are added, never duplicated). A
new link releases the deliveries held on its key (``adapters.identity.holds``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from django.db import transaction

from adapters.identity.holds import deliveries_release
from adapters.identity.resolution import email_lookup_key
from adapters.models import IdentityLink
from lrs.xapi.agents import agent_ifi

CSV_COLUMNS = ("employee_id", "email", "account_homepage", "account_name", "openid", "mbox_sha1sum")


class IdentityInputError(ValueError):
    """A link that cannot be made; the message names the field (and CSV line)."""


@dataclass
class Identifiers:
    emails: list[str] = field(default_factory=list)
    accounts: list[dict[str, str]] = field(default_factory=list)  # {"homePage", "name"}
    openids: list[str] = field(default_factory=list)
    mbox_sha1sums: list[str] = field(default_factory=list)


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
def identity_links_upsert(*, employee_id: str, identifiers: Identifiers, source: str = "api") -> int:
    """Add the identifiers to the employee (existing ones are kept, repeats ignored); returns
    how many links are new. Held deliveries whose key is now linked are released."""
    employee_id = employee_id.strip()
    if not employee_id:
        raise IdentityInputError("employee_id: required")
    links = _links_for(employee_id, identifiers, source)
    keys = {link.lookup_key for link in links}
    before = IdentityLink.objects.filter(employee_id=employee_id, lookup_key__in=keys).count()
    IdentityLink.objects.bulk_create(links, ignore_conflicts=True)
    created = IdentityLink.objects.filter(employee_id=employee_id, lookup_key__in=keys).count() - before
    deliveries_release(keys=keys)
    return created


def identity_links_import_csv(text: str, *, source: str = "csv") -> dict[str, int]:
    """Import a CSV with columns employee_id,email,account_homepage,account_name,openid,mbox_sha1sum
    (any may be empty but employee_id). All-or-nothing; errors name the line and column."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [column for column in ("employee_id",) if column not in (reader.fieldnames or [])]
    unknown = [column for column in reader.fieldnames or [] if column not in CSV_COLUMNS]
    if missing or unknown:
        raise IdentityInputError(
            f"line 1: columns must be among {', '.join(CSV_COLUMNS)} and include employee_id "
            f"(missing: {', '.join(missing) or '-'}; unknown: {', '.join(unknown) or '-'})"
        )
    counts = {"rows": 0, "links_created": 0}
    with transaction.atomic():
        for line, row in enumerate(reader, start=2):
            identifiers = Identifiers(
                emails=[row["email"].strip()] if (row.get("email") or "").strip() else [],
                accounts=[{"homePage": row["account_homepage"].strip(), "name": row["account_name"].strip()}]
                if (row.get("account_homepage") or row.get("account_name") or "").strip()
                else [],
                openids=[row["openid"].strip()] if (row.get("openid") or "").strip() else [],
                mbox_sha1sums=[row["mbox_sha1sum"].strip()]
                if (row.get("mbox_sha1sum") or "").strip()
                else [],
            )
            try:
                counts["links_created"] += identity_links_upsert(
                    employee_id=row.get("employee_id") or "", identifiers=identifiers, source=source
                )
            except IdentityInputError as exc:
                raise IdentityInputError(f"line {line}: {exc}") from None
            counts["rows"] += 1
    return counts
