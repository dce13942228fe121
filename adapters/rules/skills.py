"""A member's skill in one competency, computed from the set of live statements evidencing it.

The marketplace's record of a skill must follow from *which* statements evidence it, never from
the order they arrived or were delivered in (adapters/marketplace/adapter.py states the whole
contract). So every piece of evidence is kept (``Evidence``) and the skill is recomputed from the
live ones each time any of them changes, by :func:`skill_state`, a pure function of the set:

* ``level``: by policy: ``highest`` (default), the highest level any live evidence earns, so a
  weaker retake never lowers it; ``latest``, the level of the latest evidence.
* ``date``: the timestamp of the latest live evidence, so an older statement stored later never
  moves it back.
* ``completed``: whether any live evidence is a completion.
* ``score`` and ``mapping_version``: those of the deciding evidence (the one whose level counts;
  the latest of them on a tie).
* ``evidence``: the live statements, latest first, at most ``limit`` of them.

"Latest" orders by statement timestamp, then statement id, so ties are broken the same way
whatever the arrival order. No live evidence: no skill (``None``), and the record is deleted.

Pure Python: no Django, no database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

Policy = Literal["highest", "latest"]
POLICIES: tuple[Policy, ...] = ("highest", "latest")
EVIDENCE_LIMIT = 10


@dataclass(frozen=True)
class Evidence:
    """One live statement evidencing the competency, with what it earned."""

    statement_id: str
    activity_id: str
    level: int
    timestamp: str  # UTC, ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (sorts as text)
    completed: bool
    score: float | None  # 0-100
    mapping_version: str

    @property
    def order(self) -> tuple[str, str]:
        return (self.timestamp, self.statement_id)

    def to_json(self) -> dict[str, Any]:
        return {"statementId": self.statement_id, "activityId": self.activity_id, "date": self.timestamp[:10]}


@dataclass(frozen=True)
class SkillState:
    level: int
    date: str  # the latest evidence's timestamp
    completed: bool
    score: float | None
    mapping_version: str
    deciding: Evidence
    evidence: tuple[Evidence, ...]  # latest first, bounded


def skill_state(
    evidence: Iterable[Evidence], *, policy: Policy = "highest", limit: int = EVIDENCE_LIMIT
) -> SkillState | None:
    """The skill the live ``evidence`` gives (see the module docstring); None when there is none."""
    items = sorted(set(evidence), key=lambda item: item.order, reverse=True)  # latest first
    if not items:
        return None
    if policy == "latest":
        deciding = items[0]
    else:
        top = max(item.level for item in items)
        deciding = next(item for item in items if item.level == top)
    return SkillState(
        level=deciding.level,
        date=items[0].timestamp,
        completed=any(item.completed for item in items),
        score=deciding.score,
        mapping_version=deciding.mapping_version,
        deciding=deciding,
        evidence=tuple(items[:limit]),
    )
