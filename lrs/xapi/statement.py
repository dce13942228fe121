"""Statements and SubStatements: the whole-statement validation entry point.

xAPI 1.0.3 Data 2.2 (Formatting Requirements), 2.3.2 (Voiding), 2.4 (Statement
Properties), 2.4.4 (Object), 2.4.4.3 (SubStatements), 2.4.10 (Version):
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#24-statement-properties
IEEE 9274.1.1 (xAPI 2.0) 4.2.2 (Statement table), 4.2.4.2 and 4.2.5 (Voiding).

* "A Statement MUST use "actor", "verb", and "object"." Other properties: ``id``
  (UUID), ``result``, ``context``, ``timestamp``, ``stored``, ``authority``,
  ``version``, ``attachments``; nothing else.
* Object: an Activity (``objectType`` absent or ``Activity``), an Agent or Group
  ("MUST specify an objectType property"), a ``StatementRef`` or a
  ``SubStatement`` (rule ``objecttype`` for anything else, case-sensitive).
* A SubStatement "MUST be validated as a Statement", "MUST NOT have the "id",
  "stored", "version" or "authority" properties" (rule ``substatement-property``)
  and "MUST NOT contain a SubStatement of its own" (``substatement-nesting``).
* Voiding: "the Object of that voiding Statement MUST have the "objectType"
  property set to StatementRef" (rule ``voiding-object``; applied to
  SubStatements too, as they are validated as Statements).
* Version: 1.0.3 "MUST reject all Statements with a version specified that does
  not start with 1.0."; the ADL conformance suite accepts ``1.0`` and
  ``1.0.x``. Under 2.0 ``2.0``/``2.0.x`` are accepted as well (rule ``version``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from lrs.xapi.activities import validate_activity
from lrs.xapi.agents import IFI_PROPERTIES, validate_actor, validate_agent, validate_authority, validate_group
from lrs.xapi.attachments import validate_attachments
from lrs.xapi.context import validate_context_for
from lrs.xapi.errors import ErrorCollector, XAPIValidationError
from lrs.xapi.json_types import check_properties, fail, require_object, require_string, short
from lrs.xapi.result import validate_result
from lrs.xapi.statement_refs import validate_statement_ref
from lrs.xapi.timestamps import validate_timestamp
from lrs.xapi.uuids import validate_uuid
from lrs.xapi.verbs import VOIDED, validate_verb
from lrs.xapi.versions import V1, V2

_STATEMENT_PROPERTIES = frozenset(
    {
        "id",
        "actor",
        "verb",
        "object",
        "result",
        "context",
        "timestamp",
        "stored",
        "authority",
        "version",
        "attachments",
    }
)
_SUBSTATEMENT_PROPERTIES = frozenset(
    {"objectType", "actor", "verb", "object", "result", "context", "timestamp", "attachments"}
)
_SUBSTATEMENT_FORBIDDEN = ("id", "stored", "version", "authority")
_AGENT_PROPERTIES = frozenset({*IFI_PROPERTIES, "member"})
_REQUIRED = ("actor", "verb", "object")
_OBJECT_TYPES = ("Activity", "Agent", "Group", "StatementRef", "SubStatement")
_STATEMENT_VERSION = {
    V1: re.compile(r"1\.0(?:\.[0-9]+)?\Z"),
    V2: re.compile(r"[12]\.0(?:\.[0-9]+)?\Z"),
}


def resolve_version(version: str) -> str:
    """The rule set for a version string: any ``1.0.x`` is 1.0.3, any ``2.0.x`` is 2.0.0."""
    if version in (V1, V2):
        return version
    if re.fullmatch(r"1\.0(?:\.[0-9]+)?", version):
        return V1
    if re.fullmatch(r"2\.0(?:\.[0-9]+)?", version):
        return V2
    raise XAPIValidationError(
        f"unsupported xAPI version {version!r}", path="X-Experience-API-Version", rule="version"
    )


def _validate_object(obj: object, *, path: str, version: str, in_substatement: bool) -> None:
    statement_object = require_object(obj, path)
    object_type = statement_object.get("objectType", "Activity")
    if object_type == "Activity":
        if "objectType" not in statement_object and not _AGENT_PROPERTIES.isdisjoint(statement_object):
            fail(
                "an Agent or Group used as the object must state its objectType ('Agent' or 'Group')",
                f"{path}.objectType",
                "objecttype",
            )
        validate_activity(statement_object, path=path)
    elif object_type == "Agent":
        validate_agent(statement_object, path=path, version=version)
    elif object_type == "Group":
        validate_group(statement_object, path=path, version=version)
    elif object_type == "StatementRef":
        validate_statement_ref(statement_object, path=path)
    elif object_type == "SubStatement":
        if in_substatement:
            fail(
                "a SubStatement must not contain another SubStatement",
                f"{path}.objectType",
                "substatement-nesting",
            )
        _validate_substatement(statement_object, path=path, version=version)
    else:
        if object_type is None:
            fail("objectType must not be null", f"{path}.objectType", "not-null")
        fail(
            f"objectType must be one of {', '.join(_OBJECT_TYPES)}, got {short(object_type)}",
            f"{path}.objectType",
            "objecttype",
        )


def _present(body: dict[str, Any], name: str) -> bool:
    """Whether ``name`` is there to validate (a null was already reported by check_properties)."""
    return body.get(name) is not None


def _validate_core(
    statement: dict[str, Any], found: ErrorCollector, *, path: str, version: str, in_substatement: bool
) -> None:
    """The properties a Statement and a SubStatement share, each checked on its own into ``found``."""
    verb: dict[str, Any] | None = None
    if _present(statement, "actor"):
        with found:
            validate_actor(statement["actor"], path=f"{path}.actor", version=version)
    if _present(statement, "verb"):
        with found:
            verb = validate_verb(statement["verb"], path=f"{path}.verb")
    statement_object = statement.get("object")
    if statement_object is not None:
        with found:
            _validate_object(
                statement_object, path=f"{path}.object", version=version, in_substatement=in_substatement
            )
        if (
            verb is not None
            and verb["id"] == VOIDED
            and type(statement_object) is dict
            and statement_object.get("objectType") != "StatementRef"
        ):
            with found:
                fail(
                    f"a voiding statement (verb {VOIDED}) must have a StatementRef object",
                    f"{path}.object.objectType",
                    "voiding-object",
                )
    if _present(statement, "result"):
        with found:
            validate_result(statement["result"], path=f"{path}.result")
    if _present(statement, "context"):
        with found:
            validate_context_for(
                statement["context"], statement_object, path=f"{path}.context", version=version
            )
    if _present(statement, "timestamp"):
        with found:
            validate_timestamp(statement["timestamp"], path=f"{path}.timestamp", version=version)
    if _present(statement, "attachments"):
        with found:
            validate_attachments(statement["attachments"], path=f"{path}.attachments")


def _validate_substatement(substatement: dict[str, Any], *, path: str, version: str) -> None:
    found = ErrorCollector()
    for name in _SUBSTATEMENT_FORBIDDEN:
        if name in substatement:
            with found:
                fail(f"a SubStatement must not have {name!r}", f"{path}.{name}", "substatement-property")
    if found.found:  # the forbidden properties are also unknown ones: reported once
        found.raise_if_any()
    with found:
        check_properties(substatement, path, _SUBSTATEMENT_PROPERTIES, _REQUIRED, what="a SubStatement")
    _validate_core(substatement, found, path=path, version=version, in_substatement=True)
    found.raise_if_any()


def validate_version_property(value: object, *, path: str, version: str) -> str:
    text = require_string(value, path)
    if not _STATEMENT_VERSION[version].match(text):
        accepted = "1.0 or 1.0.x" if version == V1 else "1.0, 1.0.x, 2.0 or 2.0.x"
        fail(f"version must be {accepted}, got {short(text)}", path, "version")
    return text


def validate_statement(statement: object, *, version: str = "1.0.3", path: str = "statement") -> None:
    """Validate a whole statement as received, raising XAPIValidationError(path, rule) for the first
    problem with every other one found in its ``errors`` (at most ``MAX_ERRORS``).

    ``version`` is the request's xAPI version (any ``1.0.x`` validates with the
    1.0.3 rules, ``2.0.x`` with the 2.0 rules); ``path`` prefixes every error
    path, e.g. ``statements[3]``. Each property is checked on its own, in the
    order below, so the first error is the one a stop-at-first check would find.
    """
    version = resolve_version(version)
    body = require_object(statement, path)
    found = ErrorCollector()
    with found:
        check_properties(body, path, _STATEMENT_PROPERTIES, _REQUIRED, what="a Statement")
    if _present(body, "id"):
        with found:
            validate_uuid(body["id"], path=f"{path}.id")
    _validate_core(body, found, path=path, version=version, in_substatement=False)
    if _present(body, "stored"):
        with found:
            validate_timestamp(body["stored"], path=f"{path}.stored", version=version)
    if _present(body, "authority"):
        with found:
            validate_authority(body["authority"], path=f"{path}.authority", version=version)
    if _present(body, "version"):
        with found:
            validate_version_property(body["version"], path=f"{path}.version", version=version)
    found.raise_if_any()


def body_path(body: str | bytes) -> str:
    """What an error found while reading a statements body (a duplicate property, a number beyond
    range) starts its path with: ``statements`` for an array, so its statements are named
    ``statements[i]`` as :func:`validate_statements` names those of a batch, ``statement`` for a
    single statement. Read from the first character, as the parser has not finished."""
    if isinstance(body, bytes):
        start = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]  # after a UTF-8 byte order mark
        return "statements" if start == b"[" else "statement"
    return "statements" if body.lstrip("\ufeff \t\r\n")[:1] == "[" else "statement"


def statement_path(index: int, *, many: bool) -> str:
    """Where statement ``index`` is in the request body: ``statements[i]`` in an array (``many``),
    ``statement`` for a body that is one statement."""
    return f"statements[{index}]" if many else "statement"


def validate_statements(statements: Sequence[object], *, version: str = "1.0.3") -> None:
    """Validate a batch, raising the first error with every error of every statement in its
    ``errors`` (at most ``MAX_ERRORS``); paths are ``statements[i]...`` for a batch of more
    than one, ``statement...`` for one, as the statement store names them."""
    many = len(statements) > 1
    found = ErrorCollector()
    for index, statement in enumerate(statements):
        with found:
            validate_statement(statement, version=version, path=statement_path(index, many=many))
    found.raise_if_any()
