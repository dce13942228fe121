"""Pure rules that turn xAPI statements into what downstream systems need.

No Django, no database, no I/O beyond reading a mapping file: safe to import anywhere and
to unit-test without settings. Statements are dicts as ``GET /xapi/statements`` serves them
(xAPI 1.0.3 Data, https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md, or 2.0).

* :mod:`adapters.rules.normalise`: timestamps, durations, scores, language maps, names, paths.
* :mod:`adapters.rules.emails`: canonical e-mail addresses for matching people.
* :mod:`adapters.rules.competencies`: competencies (code, level) evidenced by a statement,
  from a versioned JSON mapping.
* :mod:`adapters.rules.field_mapping`: the marketplace JSON built from source values,
  driven by ``adapters/marketplace/mapping.csv``.
* :mod:`adapters.rules.filters`: which statements a target takes.
* :mod:`adapters.rules.notifications`: what a chat notification says.

May import: the standard library, each other and ``lrs.xapi`` (the spec rules, pure too). Never
Django, the rest of ``lrs``, or the rest of ``adapters``.
"""

from adapters.rules.competencies import (
    CompetencyAward,
    CompetencyMapping,
    CompetencyMappingError,
    CompetencyRule,
    Evidence,
    FixedLevel,
    LevelRule,
    ThresholdLevel,
    competencies_for,
    is_failed,
)
from adapters.rules.emails import DOTLESS_DOMAINS, email_from_actor, normalise_email
from adapters.rules.field_mapping import (
    CSV_COLUMNS,
    DATA_TYPES,
    DEFAULT_MAPPING_PATH,
    MARKETPLACE_CONTRACT,
    TRANSFORMS,
    FieldMapping,
    FieldMappingError,
    FieldRule,
    MappingError,
    TargetSpec,
    load_field_mapping,
    parse_field_mapping,
)
from adapters.rules.normalise import (
    COMPLETION_VERBS,
    activity_name,
    actor_display,
    display_name,
    duration_seconds,
    learning_completed,
    path_segments,
    score_0_100,
    utc_date,
    utc_iso8601,
    value_at,
)

__all__ = [
    "COMPLETION_VERBS",
    "CSV_COLUMNS",
    "DATA_TYPES",
    "DEFAULT_MAPPING_PATH",
    "DOTLESS_DOMAINS",
    "MARKETPLACE_CONTRACT",
    "TRANSFORMS",
    "CompetencyAward",
    "CompetencyMapping",
    "CompetencyMappingError",
    "CompetencyRule",
    "Evidence",
    "FieldMapping",
    "FieldMappingError",
    "FieldRule",
    "FixedLevel",
    "LevelRule",
    "MappingError",
    "TargetSpec",
    "ThresholdLevel",
    "activity_name",
    "actor_display",
    "competencies_for",
    "display_name",
    "duration_seconds",
    "email_from_actor",
    "is_failed",
    "learning_completed",
    "load_field_mapping",
    "normalise_email",
    "parse_field_mapping",
    "path_segments",
    "score_0_100",
    "utc_date",
    "utc_iso8601",
    "value_at",
]
