"""The alert rules, their thresholds (settings, with the defaults the go-live criteria set) and
which side of the threshold is bad."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class Rule:
    name: str
    title: str  # "dead letters in the last hour"
    setting: str  # the threshold's setting
    low_is_bad: bool = False  # success: below the threshold is bad; the others: above
    unit: str = ""

    @property
    def threshold(self) -> float:
        return float(getattr(settings, self.setting))

    def breaches(self, value: float | None) -> bool:
        if value is None:
            return False
        return value < self.threshold if self.low_is_bad else value > self.threshold

    def describe(self, target_name: str, value: float | None, *, cleared: bool) -> str:
        shown = "n/a" if value is None else f"{value:,.3g}{self.unit}"
        side = "below" if self.low_is_bad else "above"
        state = "back within" if cleared else side
        prefix = "Recovered: " if cleared else ""
        limit = f"{self.threshold:g}{self.unit}"
        return f"{prefix}{self.title} for target {target_name} is {shown}, {state} the threshold of {limit}"


RULES = (
    Rule("drift", "reconciliation drift", "LRS_ALERT_MAX_DRIFT_PERCENT", unit=" %"),
    Rule(
        "success",
        "delivery success (the day: last 24 h, latest 10,000 at most)",
        "LRS_ALERT_MIN_SUCCESS_PERCENT",
        low_is_bad=True,
        unit=" %",
    ),
    Rule(
        "lag_p95", "delivery lag p95 (last hour, latest 10,000)", "LRS_ALERT_MAX_LAG_P95_SECONDS", unit=" s"
    ),
    Rule(
        "held_share",
        "held (unmapped) share of deliveries (the day: last 24 h, latest 10,000 at most)",
        "LRS_ALERT_MAX_HELD_PERCENT",
        unit=" %",
    ),
    Rule("dead_letters", "dead letters in the last hour", "LRS_ALERT_MAX_DEAD_LETTERS_PER_HOUR"),
    Rule("paused", "minutes paused by the circuit breaker", "LRS_ALERT_MAX_PAUSED_MINUTES", unit=" min"),
)
RULES_BY_NAME = {rule.name: rule for rule in RULES}
