"""Valid statements to start from, and strategies that break one thing in them.

A mutation changes one place of a valid statement (drops a property or an array item, puts an
odd value there, or adds a property), and reports that place as the LRS names it
(``statement.context.instructor.mbox``, ``statements[2].result["extensions"]``: the paths of
``lrs.xapi.json_types.child``), so a test can check that a rejection names it.
"""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from lrs.xapi.json_types import child, key_path

Json = Any
Path = tuple[str | int, ...]

ACTIVITY = "http://example.com/activities/fuzz"
EXTENSION = "http://example.com/extensions/fuzz"
LONG = secrets.token_hex(1500)  # an identifier PostgreSQL cannot compress into an index row


def _agent(n: int) -> dict[str, Any]:
    return {"objectType": "Agent", "name": f"Learner {n}", "mbox": f"mailto:learner{n}@example.com"}


def rich_statement(n: int = 0) -> dict[str, Any]:
    """A statement using most of the properties of Data 2.4."""
    return {
        "actor": _agent(n),
        "verb": {"id": "http://adlnet.gov/expapi/verbs/answered", "display": {"en-US": "answered"}},
        "object": {
            "objectType": "Activity",
            "id": f"{ACTIVITY}/{n}",
            "definition": {
                "name": {"en-US": "Question"},
                "description": {"en-US": "Pick one"},
                "type": "http://adlnet.gov/expapi/activities/cmi.interaction",
                "interactionType": "choice",
                "correctResponsesPattern": ["a"],
                "choices": [
                    {"id": "a", "description": {"en-US": "A"}},
                    {"id": "b", "description": {"en-US": "B"}},
                ],
                "extensions": {EXTENSION: {"level": 1}},
            },
        },
        "result": {
            "score": {"scaled": 0.5, "raw": 5, "min": 0, "max": 10},
            "success": True,
            "completion": True,
            "response": "a",
            "duration": "PT1M30S",
            "extensions": {EXTENSION: [1, "two", None]},
        },
        "context": {
            "registration": "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b",
            "instructor": {"account": {"homePage": "http://example.com/lms", "name": "teacher"}},
            "contextActivities": {"parent": [{"id": f"{ACTIVITY}/parent"}], "grouping": [{"id": ACTIVITY}]},
            "revision": "1",
            "platform": "fuzz",
            "language": "en-US",
            "extensions": {EXTENSION: "x"},
        },
        "timestamp": "2024-05-04T17:00:00.000Z",
        "attachments": [
            {
                "usageType": "http://example.com/attachment-usage/cert",
                "display": {"en-US": "Certificate"},
                "contentType": "application/pdf",
                "length": 3,
                "sha2": "a" * 64,
                "fileUrl": "http://example.com/cert.pdf",
            }
        ],
    }


def group_statement(n: int = 0) -> dict[str, Any]:
    """A statement by an anonymous Group about a SubStatement."""
    return {
        "actor": {"objectType": "Group", "member": [_agent(n), {"openid": f"http://example.com/id/{n}"}]},
        "verb": {"id": "http://example.com/verbs/planned"},
        "object": {
            "objectType": "SubStatement",
            "actor": {"mbox_sha1sum": "ab" * 20},
            "verb": {"id": "http://example.com/verbs/attend"},
            "object": {"objectType": "StatementRef", "id": "0b1c2d3e-4f50-4617-8829-3a4b5c6d7e8f"},
        },
    }


TEMPLATES: tuple[Callable[[int], dict[str, Any]], ...] = (rich_statement, group_statement)


def places(value: Json, path: Path = ()) -> list[Path]:
    """Every place in ``value`` (not the root), depth first."""
    found: list[Path] = []
    if type(value) is dict:
        for key, item in value.items():
            found.append((*path, key))
            found.extend(places(item, (*path, key)))
    elif type(value) is list:
        for index, item in enumerate(value):
            found.append((*path, index))
            found.extend(places(item, (*path, index)))
    return found


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= char <= "\udfff" for char in text)


def render(root: str, path: Path, *, keyed: bool = False) -> str:
    """``path`` as the LRS writes it. Keys of maps keyed by data (extensions, language maps) are
    written ``["..."]`` even when they look like identifiers; ``keyed`` marks the last one so."""
    text = root
    for position, step in enumerate(path):
        if type(step) is int:
            text = f"{text}[{step}]"
        elif not step.isascii() and _has_surrogate(step):  # named in ASCII: it cannot be UTF-8
            text = f"{text}[{json.dumps(step)}]"
        elif keyed and position == len(path) - 1:
            text = key_path(text, step)
        else:
            text = child(text, step)
    return text


def render_places(root: str, path: Path) -> list[str]:
    """Where a rejection of a change at ``path`` may point: the place (its last key written by
    name, or as a data key of a map) or, below the top level, anywhere in the object or array
    holding it. Properties depend on their siblings (an Agent turned Group "requires 'member'";
    a changed ``max`` is reported at ``min``, "min must be less than max"), so the holder is as
    precise as a change can be expected to be named; a top-level change must be named exactly."""
    if not path:
        return [root]
    found = [render(root, path)]
    if type(path[-1]) is not int:
        found.append(render(root, path, keyed=True))
    if len(path) > 1:
        found.append(render(root, path[:-1]))
    return found


def _container(value: Json, path: Path) -> Json:
    for step in path:
        value = value[step]
    return value


# Values a client might wrongly put anywhere.
ODD_VALUES: tuple[Json, ...] = (
    None,
    True,
    0,
    -1,
    1.5,
    10**40,
    10**400,
    float("nan"),
    float("inf"),
    -float("inf"),
    1e308,
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "not a uuid",
    "2024-13-45T25:61:61Z",
    "P1Y2M",
    "mailto:",
    "mailto:a@b\x00.c",
    "http://",
    "http://example.com/ok",
    "urn:x",
    "\u202e\ufeff",
    "é" * 300,
    "http://example.com/" + LONG,
    "mailto:a@" + LONG + ".example.com",
    [],
    [None],
    [1, "a"],
    {},
    {"": ""},
    {"\x00": 1},
    {"\ud800": 1},
    {"en-US": None},
    {"en-US": "\x00"},
    {"objectType": "Agent"},
    {"id": "http://example.com/x"},
)


def odd_values() -> st.SearchStrategy[Json]:
    scalar = st.one_of(
        st.sampled_from(ODD_VALUES),
        st.text(max_size=30),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.floats(allow_nan=True, allow_infinity=True),
    )
    return st.one_of(
        scalar,
        st.recursive(
            scalar,
            lambda inner: (
                st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
            ),
            max_leaves=6,
        ),
    )


@st.composite
def mutated(draw: st.DrawFn, template: Json) -> tuple[Json, Path, str]:
    """(the statement with one place broken, that place, the operation)."""
    statement = copy.deepcopy(template)
    where = draw(st.sampled_from(places(statement)))
    parent = _container(statement, where[:-1])
    operation = draw(st.sampled_from(("drop", "replace", "replace", "add")))
    if operation == "drop":
        del parent[where[-1]]
        if type(where[-1]) is int:  # the remaining items moved: the list is the place
            where = where[:-1]
    elif operation == "replace" or type(parent) is not dict:
        parent[where[-1]] = draw(odd_values())
    else:
        key = draw(
            st.sampled_from(("extra", "", "\x00", "\ud800", "Actor", "objectType", "id"))
            | st.text(max_size=10)
        )
        if key in parent:
            key = key + "_"
        parent[key] = draw(odd_values())
        where = (*where[:-1], key)
    return statement, where, operation


def dumps(value: Json, *, ascii_only: bool = True) -> bytes:
    """JSON text as a careless client writes it: NaN and Infinity as literals; with
    ``ascii_only`` every other character as an escape (a lone surrogate as ``\\ud800``),
    else as itself in UTF-8 (a lone surrogate then as bytes no UTF-8 decoder accepts)."""
    text = json.dumps(value, ensure_ascii=ascii_only, allow_nan=True)
    return text.encode("utf-8", "surrogatepass")
