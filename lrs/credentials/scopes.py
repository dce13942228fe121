"""xAPI authorization scopes.

xAPI 1.0.3 Communication 4.2 ("OAuth Authorization Scope") names the scopes;
the same names are used here for HTTP Basic credentials.
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#oauth-authorization-scope
"""

from __future__ import annotations

from collections.abc import Iterable

STATEMENTS_WRITE = "statements/write"
STATEMENTS_READ = "statements/read"
STATEMENTS_READ_MINE = "statements/read/mine"
ALL_READ = "all/read"
ALL = "all"
DEFINE = "define"
STATE = "state"
PROFILE = "profile"
# Not an xAPI scope, and not in "all": managing the identity map (actor -> employee id) through
# its API, which decides which employee a statement lands on downstream (PMS, marketplace). A
# credential made for an LRS client (an LMS, the conformance suite) typically holds "all" and must
# not re-map people: this is granted by name (migration 0013 did so for credentials holding "all").
IDENTITY_WRITE = "identity/write"
# Not an xAPI scope, and not in "all": erasing and exporting a person (DSAR tooling only).
PRIVACY = "privacy"

# The xAPI scopes (Communication 4.2): "all" is "unrestricted access" to these resources only.
XAPI_SCOPES = (STATEMENTS_WRITE, STATEMENTS_READ, STATEMENTS_READ_MINE, ALL_READ, ALL, DEFINE, STATE, PROFILE)

# What each scope implies beyond itself: "all" every xAPI scope, "all/read" every read.
_IMPLIED = {
    ALL: set(XAPI_SCOPES),
    ALL_READ: {ALL_READ, STATEMENTS_READ, STATEMENTS_READ_MINE},
    STATEMENTS_READ: {STATEMENTS_READ, STATEMENTS_READ_MINE},
}
KNOWN_SCOPES = (*XAPI_SCOPES, IDENTITY_WRITE, PRIVACY)


def expand(granted: Iterable[str]) -> set[str]:
    result: set[str] = set()
    for scope in granted:
        result |= _IMPLIED.get(scope, {scope})
    return result


def allows(granted: Iterable[str], needed: Iterable[str]) -> bool:
    """True when any one of ``needed`` is granted (directly or implied)."""
    expanded = expand(granted)
    return any(scope in expanded for scope in needed)


def parse(raw: str) -> list[str]:
    """Parse a comma-separated scope list, rejecting unknown names with a clear message."""
    scopes = [item.strip() for item in raw.split(",") if item.strip()]
    unknown = [scope for scope in scopes if scope not in KNOWN_SCOPES]
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(KNOWN_SCOPES)}")
    if not scopes:
        raise ValueError("at least one scope is required")
    return scopes
