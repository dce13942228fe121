"""Competencies evidenced by xAPI statements, driven by a versioned mapping kept as data (JSON).

A mapping names, per Activity id or Activity type (xAPI 1.0.3 Data 2.4.4.1,
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#2441-when-the-objecttype-is-activity),
the competency codes a statement about that activity evidences and the level (1-5)
awarded, fixed or by thresholds on the score as a percentage (see
:func:`adapters.rules.normalise.score_0_100`; Data 2.4.5.1, #2451-score)::

    {
      "version": "2024-06-01",
      "rules": [
        {"activity_id": "https://lms.example.com/courses/fire-safety",
         "codes": ["HS-101"], "level": {"fixed": 3}},
        {"activity_type": "http://adlnet.gov/expapi/activities/assessment",
         "codes": ["ASSESS-1"], "award_on_failure": false,
         "level": {"thresholds": [[90, 5], [75, 4], [60, 3], [0, 2]], "no_score": 1}}
      ]
    }

Semantics of :func:`competencies_for`:

* Only statements whose object is an Activity award anything.
* Rules naming the statement's activity id beat rules naming its type: when at least
  one id rule matches, the type rules are not consulted at all.
* A failed statement (``result.success`` false, or the ADL ``failed`` verb; Data
  2.4.5, #245-result) awards nothing unless the rule sets ``award_on_failure``.
* Thresholds are ``[minimum score, level]`` pairs, highest first; the first whose
  minimum the score reaches gives the level. A score below every minimum awards
  nothing; a statement without a usable score gets ``no_score`` (or nothing).
* Which verbs count (completed, passed, ...) is the target's filter's business
  (``adapters.rules.filters``), not the mapping's.
* A code is at most ``MAX_CODE_LENGTH`` (200) characters: the marketplace's ledger keeps it.

Pure Python: no Django, no database.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias, TypedDict

from adapters.rules.normalise import score_0_100

MIN_LEVEL, MAX_LEVEL = 1, 5
# A code names a marketplace record: the ledger's rows keep it in 200 characters
# (adapters/models/skills.py), so a longer one would fail every delivery that awards it.
MAX_CODE_LENGTH = 200
FAILED_VERB = "http://adlnet.gov/expapi/verbs/failed"
_ROOT = "(top level)"


class CompetencyMappingError(ValueError):
    """A mapping that does not validate; ``problems`` lists every ``(path, message)``,
    ``path`` is the first one's path (``rules[2].level.thresholds[1]``)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        self.path = problems[0][0]
        super().__init__("invalid competency mapping: " + "; ".join(f"{p}: {m}" for p, m in problems))


@dataclass(frozen=True)
class FixedLevel:
    """Always the same level, whatever the score (``{"fixed": 3}``)."""

    level: int

    def level_for(self, score: float | None) -> int | None:
        return self.level


@dataclass(frozen=True)
class ThresholdLevel:
    """The level by score (``{"thresholds": [[90, 5], [60, 3], [0, 2]], "no_score": 1}``).

    ``thresholds`` are ``(minimum score 0-100, level)`` pairs, minimums strictly descending.
    """

    thresholds: tuple[tuple[float, int], ...]
    no_score: int | None = None

    def level_for(self, score: float | None) -> int | None:
        """The level for a 0-100 score (None: no score); None when the rule awards nothing."""
        if score is None:
            return self.no_score
        return next((level for minimum, level in self.thresholds if score >= minimum), None)


LevelRule: TypeAlias = FixedLevel | ThresholdLevel


@dataclass(frozen=True)
class CompetencyRule:
    """Codes awarded for statements about one activity id, or about any activity of one type."""

    activity_id: str | None
    activity_type: str | None
    codes: tuple[str, ...]
    level: LevelRule
    award_on_failure: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "codes", tuple(self.codes))
        if (self.activity_id is None) == (self.activity_type is None):
            raise ValueError("a competency rule names exactly one of activity_id and activity_type")


class Evidence(TypedDict):
    """What an award rests on: the statement and its activity."""

    statementId: str
    activityId: str


@dataclass(frozen=True)
class CompetencyAward:
    """One competency at one level, evidenced by one statement, under one mapping version."""

    code: str
    level: int
    evidence: Evidence
    mapping_version: str

    def to_json(self) -> dict[str, Any]:
        """``{"code", "level", "evidence": {"statementId", "activityId"}, "mappingVersion"}``."""
        return {
            "code": self.code,
            "level": self.level,
            "evidence": dict(self.evidence),
            "mappingVersion": self.mapping_version,
        }


@dataclass(frozen=True)
class CompetencyMapping:
    """A versioned list of :class:`CompetencyRule` (build it with :meth:`from_json`)."""

    version: str
    rules: tuple[CompetencyRule, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", tuple(self.rules))

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str | bytes) -> CompetencyMapping:
        """Validate and build a mapping from parsed JSON (or JSON text).

        Raises :class:`CompetencyMappingError` listing every problem with its path,
        e.g. ``rules[2].level.thresholds[1]: minimum 95 must be below the previous one (90)``.
        Unknown properties are errors (a misspelt ``award_on_failure`` must not pass silently).
        """
        if isinstance(data, str | bytes):
            try:
                data = json.loads(data)
            except ValueError as exc:
                raise CompetencyMappingError([(_ROOT, f"not JSON: {exc}")]) from None
        return _Parser().mapping(data)

    def rules_for(self, activity_id: str | None, activity_type: str | None) -> tuple[CompetencyRule, ...]:
        """The rules that apply to an activity: those naming its id, else those naming its type."""
        by_id = tuple(rule for rule in self.rules if activity_id and rule.activity_id == activity_id)
        if by_id:
            return by_id
        return tuple(rule for rule in self.rules if activity_type and rule.activity_type == activity_type)


def is_failed(statement: dict[str, Any]) -> bool:
    """True when ``result.success`` is false or the verb is ADL ``failed`` (Data 2.4.5, #245-result)."""
    result = statement.get("result")
    if isinstance(result, dict) and result.get("success") is False:
        return True
    verb = statement.get("verb")
    return isinstance(verb, dict) and verb.get("id") == FAILED_VERB


def competencies_for(statement: dict[str, Any], mapping: CompetencyMapping) -> list[CompetencyAward]:
    """The competencies a statement evidences under ``mapping``, in rule then code order.

    Raises ValueError when an awarding statement has no ``id`` (every statement the
    LRS serves has one; the evidence must point at it).
    """
    obj = statement.get("object")
    if not isinstance(obj, dict) or obj.get("objectType", "Activity") != "Activity":
        return []
    activity_id = obj.get("id")
    if not isinstance(activity_id, str):
        return []
    definition = obj.get("definition")
    activity_type = definition.get("type") if isinstance(definition, dict) else None
    rules = mapping.rules_for(activity_id, activity_type if isinstance(activity_type, str) else None)
    if not rules:
        return []
    failed = is_failed(statement)
    result = statement.get("result")
    score = score_0_100(result.get("score")) if isinstance(result, dict) else None
    awards: list[CompetencyAward] = []
    for rule in rules:
        if failed and not rule.award_on_failure:
            continue
        level = rule.level.level_for(score)
        if level is None:
            continue
        statement_id = statement.get("id")
        if not isinstance(statement_id, str) or not statement_id:
            raise ValueError("the statement has no id to cite as evidence of a competency")
        evidence = Evidence(statementId=statement_id, activityId=activity_id)
        awards.extend(CompetencyAward(code, level, evidence, mapping.version) for code in rule.codes)
    return awards


# --- validation -----------------------------------------------------------------------------------------

_MAPPING_KEYS = frozenset({"version", "rules", "description"})
_RULE_KEYS = frozenset({"activity_id", "activity_type", "codes", "level", "award_on_failure", "description"})
_LEVEL_KEYS = frozenset({"fixed", "thresholds", "no_score"})


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value  # not NaN


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


class _Parser:
    """Collects every problem of a mapping document, each with its path."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def keys(self, data: Mapping[str, Any], allowed: frozenset[str], path: str) -> None:
        for key in data:
            if key not in allowed:
                where = f"{path}.{key}" if path != _ROOT else str(key)
                self.fail(where, f"unknown property (allowed: {', '.join(sorted(allowed))})")

    def mapping(self, data: object) -> CompetencyMapping:
        if not isinstance(data, Mapping):
            raise CompetencyMappingError([(_ROOT, f"must be a JSON object, got {type(data).__name__}")])
        self.keys(data, _MAPPING_KEYS, _ROOT)
        version = data.get("version")
        if not _text(version):
            self.fail("version", "required: a non-empty string such as '2024-06-01'")
        raw_rules = data.get("rules")
        rules: list[CompetencyRule] = []
        if not isinstance(raw_rules, list):
            self.fail("rules", "required: a list of rules")
        else:
            seen: dict[tuple[str, str, str], int] = {}
            for index, raw in enumerate(raw_rules):
                rule = self.rule(raw, f"rules[{index}]")
                if rule is None:
                    continue
                kind, key = (
                    ("activity_id", rule.activity_id)
                    if rule.activity_id
                    else ("activity_type", rule.activity_type)
                )
                for position, code in enumerate(rule.codes):
                    first = seen.setdefault((kind, str(key), code), index)
                    if first != index:
                        self.fail(
                            f"rules[{index}].codes[{position}]",
                            f"code {code!r} is already mapped for {kind} {key!r} by rules[{first}]",
                        )
                rules.append(rule)
        if self.problems:
            raise CompetencyMappingError(self.problems)
        return CompetencyMapping(version=str(version).strip(), rules=tuple(rules))

    def rule(self, raw: object, path: str) -> CompetencyRule | None:
        if not isinstance(raw, Mapping):
            self.fail(path, f"must be an object, got {type(raw).__name__}")
            return None
        before = len(self.problems)
        self.keys(raw, _RULE_KEYS, path)
        activity_id, activity_type = raw.get("activity_id"), raw.get("activity_type")
        if (activity_id is None) == (activity_type is None):
            self.fail(path, "must name exactly one of activity_id and activity_type")
        for name, value in (("activity_id", activity_id), ("activity_type", activity_type)):
            if value is not None and not _text(value):
                self.fail(f"{path}.{name}", "must be a non-empty string (an IRI)")
        codes = raw.get("codes")
        if not isinstance(codes, list) or not codes:
            self.fail(f"{path}.codes", "required: a non-empty list of competency codes")
            codes = []
        for position, code in enumerate(codes):
            if not _text(code):
                self.fail(f"{path}.codes[{position}]", "must be a non-empty string")
            elif len(code) > MAX_CODE_LENGTH:
                self.fail(f"{path}.codes[{position}]", f"must be at most {MAX_CODE_LENGTH} characters")
            elif code in codes[:position]:
                self.fail(f"{path}.codes[{position}]", f"duplicate code {code!r}")
        award_on_failure = raw.get("award_on_failure", False)
        if not isinstance(award_on_failure, bool):
            self.fail(f"{path}.award_on_failure", "must be true or false")
        if not isinstance(raw.get("description", ""), str):
            self.fail(f"{path}.description", "must be a string")
        level = self.level(raw.get("level"), f"{path}.level")
        if len(self.problems) > before or level is None:
            return None
        return CompetencyRule(
            activity_id=activity_id,
            activity_type=activity_type,
            codes=tuple(codes),
            level=level,
            award_on_failure=award_on_failure,
            description=raw.get("description", ""),
        )

    def level_value(self, value: object, path: str, what: str = "level") -> int | None:
        if not _is_int(value) or not MIN_LEVEL <= value <= MAX_LEVEL:  # type: ignore[operator]
            self.fail(path, f"{what} must be an integer {MIN_LEVEL}-{MAX_LEVEL}, got {value!r}")
            return None
        return value  # type: ignore[return-value]

    def level(self, raw: object, path: str) -> LevelRule | None:
        if not isinstance(raw, Mapping):
            self.fail(path, 'required: {"fixed": <level>} or {"thresholds": [[<min score>, <level>], ...]}')
            return None
        self.keys(raw, _LEVEL_KEYS, path)
        if ("fixed" in raw) == ("thresholds" in raw):
            self.fail(path, "must have exactly one of fixed and thresholds")
            return None
        if "fixed" in raw:
            if "no_score" in raw:
                self.fail(f"{path}.no_score", "only applies to thresholds")
            fixed = self.level_value(raw["fixed"], f"{path}.fixed")
            return None if fixed is None else FixedLevel(fixed)
        no_score = raw.get("no_score")
        if no_score is not None:
            no_score = self.level_value(no_score, f"{path}.no_score", "no_score")
        thresholds = self.thresholds(raw["thresholds"], f"{path}.thresholds")
        return None if thresholds is None else ThresholdLevel(thresholds, no_score)

    def thresholds(self, raw: object, path: str) -> tuple[tuple[float, int], ...] | None:
        if not isinstance(raw, list) or not raw:
            self.fail(path, "must be a non-empty list of [minimum score 0-100, level] pairs")
            return None
        pairs: list[tuple[float, int]] = []
        for index, pair in enumerate(raw):
            where = f"{path}[{index}]"
            if not isinstance(pair, list) or len(pair) != 2:
                self.fail(where, f"must be a [minimum score, level] pair, got {pair!r}")
                continue
            minimum, level = pair
            if not _is_number(minimum) or not 0 <= minimum <= 100:
                self.fail(where, f"minimum score must be a number 0-100, got {minimum!r}")
                continue
            if self.level_value(level, where) is None:
                continue
            if pairs and minimum >= pairs[-1][0]:
                self.fail(where, f"minimum {minimum} must be below the previous one ({pairs[-1][0]:g})")
                continue
            if pairs and level > pairs[-1][1]:
                self.fail(
                    where, f"level {level} must not exceed the level of a higher score ({pairs[-1][1]})"
                )
                continue
            pairs.append((float(minimum), level))
        return tuple(pairs) if len(pairs) == len(raw) else None
