"""What chat notifications say: the learner and the activity, and a score only when allowed.

Shared by the Slack and Teams adapters (data minimisation: a chat channel is a wide
audience, so ``include_score`` is off unless the target's configuration turns it on).
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.rules.normalise import activity_name, actor_display, score_0_100

ADL = "http://adlnet.gov/expapi/verbs/"
VERB_PHRASES = {
    ADL + "completed": "completed",
    ADL + "passed": "passed",
    ADL + "failed": "did not pass",
    ADL + "mastered": "mastered",
    ADL + "scored": "was scored on",
}


@dataclass(frozen=True)
class Notification:
    learner: str
    phrase: str
    activity: str
    activity_id: str
    score: float | None  # None unless allowed

    @property
    def text(self) -> str:
        base = f"{self.learner} {self.phrase} {self.activity}"
        return f"{base} (score {self.score:g}/100)" if self.score is not None else base


def notification_for(statement: dict, *, preferred_languages: list[str], include_score: bool) -> Notification:
    obj = statement["object"]
    if obj.get("objectType") == "SubStatement":
        obj = obj["object"]
    result = statement.get("result") or {}
    phrase = VERB_PHRASES.get(statement["verb"]["id"])
    if phrase is None:
        phrase = "completed" if result.get("completion") is True else "was scored on"
    return Notification(
        learner=actor_display(statement) or "A learner",
        phrase=phrase,
        activity=activity_name({**statement, "object": obj}, preferred_languages),
        activity_id=obj.get("id", ""),
        score=score_0_100(result.get("score")) if include_score else None,
    )
