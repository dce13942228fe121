"""An independent model of identity for the identity property test: which employee each xAPI
identifier is linked to (HRIS feed, admin links, unlinks and moves), employee records (leavers,
managers), and, per statement, what its deliveries to the PMS and the marketplace last did.

The rules it follows, and where they are stated:

- resolution (adapters/identity/resolution.py, README "Identities"): an ``mbox`` resolves through
  its lower-cased address and through an ``mbox_sha1sum`` link of that address's SHA-1; an
  ``mbox_sha1sum`` through a link of that kind and through a linked address it is the SHA-1 of
  (Data 2.4.2.3: the same mailbox), the employees of both together;
  an ``account`` through a link of that kind only; no employee: held "unmapped", several: held
  "ambiguous"; an employee who left on or before the statement's UTC date: held "terminated";
- the HRIS feed (adapters/identity/hris.py, README "HRIS delta feed"): a row's e-mails and
  accounts are the employee's complete HRIS identifiers (those the feed linked before and leaves
  out now are unlinked; links from elsewhere are never touched); a row that would link an
  identifier another employee holds (an address: or its SHA-1) is rejected whole; a termination
  without a date keeps the date first given, or today;
- holds (adapters/identity/holds.py): a link change releases the deliveries held on the keys it
  touched (an address's: its SHA-1 form's too; a SHA-1's: its address's too); a re-hire releases
  nothing; an admin may release
  every held delivery;
- deliveries already made are reported, not rewritten (README "Identities"): a statement's
  effects stay under the employee its delivery named, until a reconciliation repair moves them to
  the employee its actor names now (adapters/reconciliation/repair.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

PEOPLE = ("ann", "bob", "cy")
EMPLOYEES = ("E1", "E2", "E3")
MANAGERS = ("", "M1", "M2")
HOME_PAGE = "https://lms.example.com"
# A statement's actor: the person's address (as linked, spelled in capitals, with a +alias, or as
# the one member of an anonymous Group), its SHA-1, or their LMS account.
FORMS = ("mbox", "mbox_capitals", "mbox_alias", "group", "mbox_sha1sum", "account")
EMAIL_FORMS = ("mbox", "mbox_capitals", "mbox_alias", "group")
Token = tuple[str, str]  # (identifier kind: email, mbox_sha1sum, account; person)


def address(person: str) -> str:
    return f"{person}@example.com"


def sha1_of(person: str) -> str:
    return hashlib.sha1(f"mailto:{address(person)}".encode()).hexdigest()


def actor(person: str, form: str) -> dict:
    if form == "mbox":
        return {"objectType": "Agent", "mbox": f"mailto:{address(person)}"}
    if form == "mbox_capitals":
        return {"objectType": "Agent", "mbox": f"mailto:{address(person).capitalize().replace('@e', '@E')}"}
    if form == "mbox_alias":
        return {"objectType": "Agent", "mbox": f"mailto:{person}+lms@example.com"}
    if form == "group":
        return {"objectType": "Group", "member": [actor(person, "mbox")]}
    if form == "mbox_sha1sum":
        return {"objectType": "Agent", "mbox_sha1sum": sha1_of(person)}
    return {"objectType": "Agent", "account": {"homePage": HOME_PAGE, "name": person}}


def token_of(person: str, form: str) -> Token:
    return ("email" if form in EMAIL_FORMS else form, person)


@dataclass
class Employee:
    terminated_on: date | None = None
    manager: str = ""
    effective: date | None = None


@dataclass
class Statement:
    id: str
    token: Token
    day: date
    scaled: float | None
    timestamp: str
    form: str = "mbox"
    voided: bool = False
    ever_delivered: bool = False  # a delivery of it was made (under some employee)
    # What its deliveries last did: ("pending",), ("held", key), ("delivered", employee, manager),
    # ("gone",) (retracted by a repair: its actor names no one now).
    state: tuple = ("pending",)
    # The member whose marketplace record its evidence counts for (None: no one's).
    member: str | None = None
    # Its marketplace delivery, run again by a repair once its actor named no one, took its
    # evidence out and waits held: ("held", key); ("pending",) once released; None otherwise.
    market: tuple | None = None


@dataclass
class Model:
    links: dict[Token, dict[str, str]] = field(default_factory=dict)  # token -> employee -> source
    employees: dict[str, Employee] = field(default_factory=dict)
    statements: list[Statement] = field(default_factory=list)

    # -- identity ------------------------------------------------------------------------

    def owners(self, token: Token) -> set[str]:
        kind, person = token
        owners = set(self.links.get(token, {}))
        if kind == "mbox_sha1sum":  # the SHA-1 of the person's address: whoever it is linked to
            owners |= set(self.links.get(("email", person), {}))
        if kind == "email":  # every spelling matches the plain address, whose SHA-1 may be linked
            owners |= set(self.links.get(("mbox_sha1sum", person), {}))
        return owners

    def employee(self, employee_id: str) -> Employee:
        return self.employees.get(employee_id) or Employee()

    def resolve(self, statement: Statement) -> tuple:
        """("delivered", employee, manager) or ("held", key) under the links as they are now."""
        owners = sorted(self.owners(statement.token))
        if len(owners) != 1:
            return ("held", statement.token)
        [employee_id] = owners
        left = self.employee(employee_id).terminated_on
        if left is not None and statement.day >= left:
            return ("held", f"terminated:{employee_id}")
        return ("delivered", employee_id, self.employee(employee_id).manager)

    def release(self, tokens: set[Token]) -> None:
        tokens = tokens | {("mbox_sha1sum", person) for kind, person in tokens if kind == "email"}
        tokens = tokens | {("email", person) for kind, person in tokens if kind == "mbox_sha1sum"}
        for statement in self.statements:
            if statement.state[0] == "held" and statement.state[1] in tokens:
                statement.state = ("pending",)
            if statement.market and statement.market[0] == "held" and statement.market[1] in tokens:
                statement.market = ("pending",)

    def release_all(self) -> None:
        for statement in self.statements:
            if statement.state[0] == "held":
                statement.state = ("pending",)
            if statement.market and statement.market[0] == "held":
                statement.market = ("pending",)

    def link(self, employee_id: str, token: Token) -> None:
        self.links.setdefault(token, {}).setdefault(employee_id, "api")
        self.release({token})

    def unlink(self, employee_id: str, token: Token) -> None:
        del self.links[token][employee_id]
        self.release({token})

    def move(self, token: Token, source: str, target: str) -> None:
        del self.links[token][source]
        self.links[token].setdefault(target, "api")
        self.release({token})

    def hris_row(
        self, employee_id: str, tokens: set[Token], terminated: bool, effective: date | None, manager: str
    ) -> str:
        """Apply one HRIS row; its result (created, updated, unchanged, rejected)."""
        held = {token for token, owners in self.links.items() if employee_id in owners}
        for token in tokens - held:
            hashed = set(self.links.get(("mbox_sha1sum", token[1]), {})) if token[0] == "email" else set()
            if (self.owners(token) | hashed) - {employee_id}:  # its SHA-1 linked elsewhere too
                return "rejected"
        removing = {token for token in held - tokens if self.links[token][employee_id] == "hris"}
        for token in tokens - held:
            self.links.setdefault(token, {})[employee_id] = "hris"
        for token in removing:
            del self.links[token][employee_id]
        known = self.employees.get(employee_id)
        terminated_on = None
        if terminated:
            earlier = known.terminated_on if known is not None else None
            terminated_on = effective or earlier or datetime.now(UTC).date()
        record = Employee(terminated_on=terminated_on, manager=manager, effective=effective)
        self.employees[employee_id] = record
        self.release((tokens - held) | removing)
        if known is None:
            return "created"
        return "updated" if (tokens - held) or removing or record != known else "unchanged"

    # -- deliveries ----------------------------------------------------------------------

    def drained(self) -> None:
        """Every due delivery ran: each pending live statement resolved under today's links."""
        for statement in self.statements:
            if statement.state == ("pending",) and not statement.voided:
                statement.state = self.resolve(statement)
                if statement.state[0] == "delivered":
                    statement.member = statement.state[1]
                    statement.ever_delivered = True
            if statement.market == ("pending",) and not statement.voided:  # the marketplace's alone
                now = self.resolve(statement)
                statement.member = now[1] if now[0] == "delivered" else None
                statement.market = None if now[0] == "delivered" else now

    def void(self, statement: Statement) -> None:
        statement.voided = True
        statement.state, statement.member, statement.market = ("gone",), None, None

    def member_now(self, statement: Statement) -> str | None:
        """The member a marketplace reconciliation counts the statement's evidence for: the one
        its actor names now; None for one naming no one now (unlinked, ambiguous, left), as the
        PMS's run expects no event of it (adapters/marketplace/reconcile.py ``moved``)."""
        now = self.resolve(statement)
        return now[1] if now[0] == "delivered" else None

    def repaired(self) -> None:
        """A reconciliation repair, drained: every live statement's effects as its actor names
        them now. An event naming the right employee and manager is left as it is; one naming
        another manager than the HRIS gives now is replaced too (the manager is among the fields
        reconciliation compares: adapters/pms/adapter.py ``RECONCILED_FIELDS``); the
        PMS's event of a statement naming no one now is retracted (an extra event), and its
        marketplace delivery, run again, takes its evidence out and waits held."""
        for statement in self.statements:
            if statement.voided:
                continue
            now = self.resolve(statement)
            if now[0] == "delivered":
                statement.market = None  # its evidence recorded (moved, or its held delivery run)
            elif statement.member is not None:
                statement.market = now
            statement.member = self.member_now(statement)
            if now[0] == "delivered":
                if statement.state != now:
                    statement.state, statement.ever_delivered = now, True
            elif statement.state[0] == "delivered":
                statement.state = ("gone",)

    def reported(self, token: Token, linked_value: str) -> list[list[str]]:
        """What taking the link away reports as delivered under it ([target, statement id], README
        "Identities"): the deliveries made of statements whose actor is the identifier as linked,
        or with a lower-cased local part, alone or as an anonymous Group's member, or its SHA-1
        (an address spelled otherwise, or with a +alias, is not listed)."""
        kind, person = token

        def listed(statement: Statement) -> bool:
            if not statement.ever_delivered:
                return False
            if kind == "email" and statement.token == ("mbox_sha1sum", person):
                return True  # every spelling linked here derives the person's plain address's SHA-1
            if statement.token != token:
                return False
            if kind != "email":
                return True
            local, _, _domain = linked_value.rpartition("@")
            return statement.form in ("mbox", "group") and local.lower() == person

        return sorted([name, s.id] for s in self.statements if listed(s) for name in ("market", "pms"))

    def live_delivered(self) -> dict[str, tuple[str, str]]:
        """statement id -> (employee, manager) its effects stand under."""
        return {
            s.id: (s.state[1], s.state[2])
            for s in self.statements
            if not s.voided and s.state[0] == "delivered"
        }
