"""The marketplace's record of a skill computed from scratch, independently of the adapter: what
any sequence of statements, voids and deliveries must end with (the adapter's contract)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Evidence:
    statement_id: str
    timestamp: str  # UTC, sortable text
    scaled: float | None


def level(scaled: float | None) -> int:
    """The test mapping (tests/adapters/target_fixtures.py): 90 -> 5, 75 -> 4, 50 -> 3, else 2;
    3 without a score."""
    if scaled is None:
        return 3
    score = max(scaled, 0) * 100
    return 5 if score >= 90 else 4 if score >= 75 else 3 if score >= 50 else 2


def expected_record(live: list[Evidence], *, limit: int = 10) -> dict | None:
    """The fields of the record that follow from the live evidence (highest-level policy)."""
    if not live:
        return None
    latest_first = sorted(live, key=lambda e: (e.timestamp, e.statement_id), reverse=True)
    return {
        "level": max(level(e.scaled) for e in live),
        "date": latest_first[0].timestamp[:10],
        "evidence": [e.statement_id for e in latest_first[:limit]],
    }


def held_record(record: dict | None) -> dict | None:
    """The same fields of the record the marketplace holds."""
    if record is None:
        return None
    return {
        "level": record["level"],
        "date": record["learningCompleted"]["date"],
        "evidence": [item["statementId"] for item in record["evidence"]],
    }
