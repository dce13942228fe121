"""The marketplace adapter's field mapping, driven by a CSV kept in the repository.

``adapters/marketplace/mapping.csv`` has exactly the columns :data:`CSV_COLUMNS`; each row
maps one source value (``<source_system>,<source_field>``) to one field of the
marketplace JSON through a named transform (:data:`TRANSFORMS`). The CSV is validated
when loaded (:func:`load_field_mapping`) and every problem is reported with its line
and column, so a bad edit fails at start-up rather than at the first delivery.

Source fields are paths into the source document (``actor.mbox``, ``context.extensions[<IRI>]``,
``$`` for all of it; see :func:`adapters.rules.normalise.path_segments`). xAPI 1.0.3 Data:
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md. A typical delivery::

    mapping = load_field_mapping()
    sources = mapping.sources_from("xapi", statement)           # as GET /xapi/statements serves it
    sources |= mapping.sources_from("lrs", {"competency": award.to_json()})
    sources |= mapping.sources_from("hris", employee_record)
    payload = mapping.apply(sources)                             # MappingError when it cannot be built

Pure Python: no Django, no database.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import Any

from adapters.rules.normalise import path_segments, utc_iso8601, value_at
from adapters.rules.transforms import DATE, PRODUCES, TRANSFORMS

_COLUMNS = (
    "source_system,source_field,target_field,data_type,transform,required,notes,cardinality,retention_policy"
)
CSV_COLUMNS: tuple[str, ...] = tuple(_COLUMNS.split(","))
DEFAULT_MAPPING_PATH = Path(__file__).resolve().parents[1] / "marketplace" / "mapping.csv"
_SYSTEM = re.compile(r"[a-z][a-z0-9_]*\Z")
logger = logging.getLogger(__name__)


class FieldMappingError(ValueError):
    """An invalid mapping CSV; ``problems`` lists each one, naming its line and column."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid field mapping:\n" + "\n".join(problems))


class MappingError(ValueError):
    """A target document that cannot be built from the given sources."""

    def __init__(self, target_field: str, source_key: str, message: str) -> None:
        self.target_field = target_field
        self.source_key = source_key
        super().__init__(f"{target_field} (from {source_key}): {message}")


# --- the marketplace contract -------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetSpec:
    """One field of a target contract: its data type, whether the field must be present, whether
    it may be null, the ``bounds`` of a number, and for an array the ``item_keys`` each object
    item must have as non-empty strings (``()``: the items are strings)."""

    data_type: str
    required: bool
    nullable: bool = False
    bounds: tuple[float, float] | None = None
    item_keys: tuple[str, ...] = ()

    def problem(self, value: Any) -> str | None:
        """Why a value of the right data type breaks the contract (None when it does not)."""
        if self.bounds is not None and not self.bounds[0] <= value <= self.bounds[1]:
            return f"must be within {self.bounds[0]}-{self.bounds[1]}, got {value!r}"
        keys = self.item_keys
        bad = [item for item in value if not _item_ok(item, keys)] if self.data_type == "array" else []
        if bad:
            return f"items must be {f'objects with non-empty {keys}' if keys else 'strings'}, got {bad[0]!r}"
        return None


def _item_ok(item: Any, keys: tuple[str, ...]) -> bool:
    if not keys:
        return isinstance(item, str)
    return isinstance(item, dict) and all(isinstance(item.get(key), str) and item[key] for key in keys)


#: The marketplace's JSON: field (dotted names are nested) -> spec.
MARKETPLACE_CONTRACT: Mapping[str, TargetSpec] = MappingProxyType(
    {
        "memberId": TargetSpec("string", True),
        # Members are found by memberId (the HRIS employee id); an e-mail is extra.
        "email": TargetSpec("string", False),
        "competencyCode": TargetSpec("string", True),
        "level": TargetSpec("integer", True, bounds=(1, 5)),
        "learningCompleted.completed": TargetSpec("boolean", True),
        "learningCompleted.date": TargetSpec("date", True),
        "score": TargetSpec("number", True, nullable=True, bounds=(0, 100)),
        "evidence": TargetSpec("array", True, item_keys=("statementId", "activityId")),
        "mappingVersion": TargetSpec("string", False),
        "badges": TargetSpec("array", False),
        "certificates": TargetSpec("array", False),
    }
)


def _parses(parse: Callable[[str], Any], value: Any) -> bool:
    try:
        return isinstance(value, str) and parse(value) is not None
    except ValueError:
        return False


_TYPE_TESTS: Mapping[str, Callable[[Any], bool]] = MappingProxyType(
    {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v),
        "boolean": lambda v: isinstance(v, bool),
        "date": lambda v: _parses(date.fromisoformat, v) and DATE.match(v) is not None,
        "datetime": lambda v: _parses(utc_iso8601, v),
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
    }
)
DATA_TYPES = frozenset(_TYPE_TESTS)


# --- the mapping --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRule:
    """One CSV row, validated; ``line`` is where it starts in the file."""

    line: int
    source_system: str
    source_field: str
    target_field: str
    data_type: str
    transform: str
    required: bool
    notes: str
    cardinality: str
    retention_policy: str

    @property
    def source_key(self) -> str:
        """The key of this row's value in :meth:`FieldMapping.apply`'s sources: ``xapi:actor.mbox``."""
        return f"{self.source_system}:{self.source_field}"


def _missing(value: Any) -> bool:
    """None, a blank string or an empty list: no value (HRIS exports have empty cells)."""
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, list | tuple) and not value)


def _assign(document: dict[str, Any], target_field: str, value: Any) -> None:
    *parents, leaf = target_field.split(".")
    for parent in parents:
        document = document.setdefault(parent, {})
    document[leaf] = value


@dataclass(frozen=True)
class FieldMapping:
    """The validated rows of a mapping CSV and the contract they were checked against."""

    rules: tuple[FieldRule, ...]
    contract: Mapping[str, TargetSpec]
    origin: str = "<string>"

    def sources_from(self, source_system: str, document: Any) -> dict[str, Any]:
        """The values this mapping reads from one system's document, keyed ``<system>:<field>``.

        Absent values are left out (``apply`` then treats them as missing).
        """
        sources = {}
        for rule in self.rules:
            if rule.source_system == source_system:
                value = value_at(document, rule.source_field)
                if value is not None:
                    sources[rule.source_key] = value
        return sources

    def apply(self, sources: Mapping[str, Any]) -> dict[str, Any]:
        """The nested target document built from flat ``"<source_system>:<source_field>"`` values.

        For each row: a value that is absent, None, blank or an empty list is missing: a
        required row raises :class:`MappingError`, an optional one is omitted (or set to
        null when the contract says the field is nullable, like ``score``). Otherwise the
        transform is applied (``many`` rows first wrap a single value in a list; a
        transform giving None counts as missing) and the result checked against the row's
        data type and the contract. A value that fails raises :class:`MappingError` naming the
        target field on a required row; on an optional row it counts as missing (logged without
        it): one odd optional value (a badge given as an object) must not block the document.
        """
        document: dict[str, Any] = {}
        for rule in self.rules:
            spec, raw = self.contract[rule.target_field], sources.get(rule.source_key)
            try:
                value = _checked(rule, spec, raw)
            except MappingError:
                if rule.required:
                    raise
                # The value may be personal data: the log names the row and the value's type only.
                logger.warning(
                    "field mapping %s line %d: optional %s left out, its %s value from %s is not a valid %s",
                    self.origin,
                    rule.line,
                    rule.target_field,
                    type(raw).__name__,
                    rule.source_key,
                    rule.data_type,
                )
                value = None
            if _missing(value):
                if rule.required:
                    raise MappingError(rule.target_field, rule.source_key, "required value is missing")
                if spec.nullable:
                    _assign(document, rule.target_field, None)
                continue
            _assign(document, rule.target_field, value)
        return document


def _checked(rule: FieldRule, spec: TargetSpec, value: Any) -> Any:
    """The row's value transformed and checked (None: missing); :class:`MappingError` when the
    transform, the data type or the contract rejects it."""
    if _missing(value):
        return None
    if rule.cardinality == "many" and not isinstance(value, list | tuple):
        value = [value]
    elif isinstance(value, tuple):
        value = list(value)
    try:
        value = TRANSFORMS[rule.transform](value)
    except (ValueError, TypeError) as exc:
        raise MappingError(rule.target_field, rule.source_key, f"{rule.transform} failed: {exc}") from exc
    if _missing(value):
        return None
    if not _TYPE_TESTS[rule.data_type](value):
        raise MappingError(rule.target_field, rule.source_key, f"expected {rule.data_type}, got {value!r}")
    problem = spec.problem(value)
    if problem:
        raise MappingError(rule.target_field, rule.source_key, problem)
    return value


def _check_row(cells: dict[str, str], contract: Mapping[str, TargetSpec]) -> list[tuple[str, str]]:
    """``(column, problem)`` for each invalid cell of one row (duplicate targets aside)."""
    problems = []
    target, data_type, transform = cells["target_field"], cells["data_type"], cells["transform"]
    spec = contract.get(target)
    if not _SYSTEM.match(cells["source_system"]):
        problems.append(("source_system", "must be a lower-case name such as xapi"))
    if path_segments(cells["source_field"]) is None:
        problems.append(("source_field", "malformed path (e.g. result.score, context.extensions[<IRI>], $)"))
    if spec is None:
        problems.append(("target_field", f"unknown target (known: {', '.join(contract)})"))
    if data_type not in DATA_TYPES:
        problems.append(("data_type", f"must be one of {', '.join(sorted(DATA_TYPES))}"))
    elif spec is not None and data_type != spec.data_type:
        problems.append(("data_type", f"{target} is {spec.data_type} in the contract"))
    if transform not in TRANSFORMS:
        problems.append(("transform", f"unknown transform (known: {', '.join(TRANSFORMS)})"))
    elif PRODUCES[transform] not in (None, data_type):
        problems.append(("transform", f"{transform} gives {PRODUCES[transform]}, not {data_type}"))
    if cells["required"] not in ("yes", "no"):
        problems.append(("required", "must be yes or no"))
    elif spec is not None and spec.required and not spec.nullable and cells["required"] == "no":
        problems.append(("required", f"{target} is required by the contract, so must be yes"))
    if cells["cardinality"] not in ("one", "many"):
        problems.append(("cardinality", "must be one or many"))
    elif (cells["cardinality"] == "many") != (data_type == "array"):
        problems.append(("cardinality", "must be many for data_type array, one otherwise"))
    if not cells["retention_policy"]:
        problems.append(("retention_policy", "must say how long the value is kept"))
    return problems


def _header_problem(header: list[str] | None) -> str | None:
    if not header:
        return "the file is empty"
    cells = [cell.strip() for cell in header]
    for number, (got, expected) in enumerate(zip(cells, CSV_COLUMNS, strict=False), start=1):
        if got != expected:
            return f"column {number} is {got!r} where {expected!r} is expected"
    if len(cells) != len(CSV_COLUMNS):
        return f"found {len(cells)} columns, expected {len(CSV_COLUMNS)}"
    return None


def parse_field_mapping(
    text: str, *, origin: str = "<string>", contract: Mapping[str, TargetSpec] = MARKETPLACE_CONTRACT
) -> FieldMapping:
    """Validate mapping CSV text; :class:`FieldMappingError` lists every problem by line and column."""
    problems: list[str] = []
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")), strict=True)
    rules: list[FieldRule] = []
    first_line: dict[str, int] = {}
    previous_end = 0
    try:
        header = next(reader, None)
        header_problem = _header_problem(header)
        if header_problem:
            raise FieldMappingError(
                [f"{origin} line 1: header must be exactly {','.join(CSV_COLUMNS)}; {header_problem}"]
            )
        previous_end = reader.line_num
        for row in reader:
            line, previous_end = previous_end + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(CSV_COLUMNS):
                problems.append(f"{origin} line {line}: expected {len(CSV_COLUMNS)} fields, found {len(row)}")
                continue
            cells = dict(zip(CSV_COLUMNS, (cell.strip() for cell in row), strict=True))
            row_problems = _check_row(cells, contract)
            target = cells["target_field"]
            if target in first_line:
                row_problems.append(("target_field", f"already mapped on line {first_line[target]}"))
            for column, message in row_problems:
                problems.append(f"{origin} line {line}, column {column}: {cells[column]!r} {message}")
            first_line.setdefault(target, line)
            if not row_problems:
                rules.append(FieldRule(line=line, **{**cells, "required": cells["required"] == "yes"}))
    except csv.Error as exc:
        problems.append(f"{origin} line {previous_end + 1}: malformed CSV ({exc})")  # where the record starts
    absent = [target for target, spec in contract.items() if spec.required and target not in first_line]
    if absent:
        problems.append(f"{origin}, column target_field: no row for required target(s) {', '.join(absent)}")
    if problems:
        raise FieldMappingError(problems)
    return FieldMapping(rules=tuple(rules), contract=contract, origin=origin)


def load_field_mapping(
    path: str | PathLike[str] = DEFAULT_MAPPING_PATH,
    *,
    contract: Mapping[str, TargetSpec] = MARKETPLACE_CONTRACT,
) -> FieldMapping:
    """Read and validate a mapping CSV (UTF-8, optional BOM); see :func:`parse_field_mapping`."""
    with open(path, encoding="utf-8", newline="") as handle:
        return parse_field_mapping(handle.read(), origin=str(path), contract=contract)
