"""The marketplace's two mappings: the field mapping (``mapping.csv``, read once a process) and the
active competency mapping (a ``CompetencyMapping`` row an admin keeps, read at each use)."""

from __future__ import annotations

from functools import cache

from adapters.models import CompetencyMapping as CompetencyMappingRow
from adapters.rules.competencies import CompetencyMapping
from adapters.rules.field_mapping import DEFAULT_MAPPING_PATH, FieldMapping, load_field_mapping


@cache
def field_mapping(path: str = str(DEFAULT_MAPPING_PATH)) -> FieldMapping:
    return load_field_mapping(path)


def active_competency_mapping(version: str | None = None) -> CompetencyMapping | None:
    rows = CompetencyMappingRow.objects.all()
    row = rows.filter(version=version).first() if version else rows.filter(is_active=True).first()
    if row is None:
        return None
    return CompetencyMapping.from_json({"version": row.version, "rules": row.rules})
