"""Realistic xAPI statements with a fixed universe of actors, activities, verbs and registrations.

The universe (``Universe``) is the same for every seed, so the loader processes,
the HTTP ingest and the query runner all talk about the same agents and
activities; ``StatementFactory`` draws statements from it with its own seed.
Shape: ~1000 actors (mostly mbox, some accounts), 50 instructors, 200 module
activities in 20 courses and 4 programmes (context parent/grouping/category),
6 verbs with skewed frequencies, 5000 registrations, results on assessments,
and a small share of voiding statements targeting earlier statements.
"""

from __future__ import annotations

import random
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

ADL = "http://adlnet.gov/expapi/verbs/"
VERBS: tuple[tuple[str, float], ...] = (
    ("experienced", 0.35),
    ("answered", 0.28),
    ("attempted", 0.15),
    ("completed", 0.11),
    ("passed", 0.07),
    ("failed", 0.04),
)
VOIDED_VERB = ADL + "voided"
HOME_PAGE = "https://sso.example.com"
ACTIVITY_BASE = "https://lms.example.com/xapi/activities"
CATEGORY_ID = "https://w3id.org/xapi/cmi5/context/categories/moveon"


def verb_id(name: str) -> str:
    return ADL + name


@dataclass(frozen=True)
class Universe:
    actors: tuple[dict[str, Any], ...]
    instructors: tuple[dict[str, Any], ...]
    modules: tuple[str, ...]  # object activities
    courses: tuple[str, ...]  # context parents
    programmes: tuple[str, ...]  # context grouping
    registrations: tuple[str, ...]

    @classmethod
    def build(cls, actors: int = 1000, registrations: int = 5000) -> Universe:
        rng = random.Random(20240601)  # fixed: the universe never changes
        people = tuple(_agent(rng, index, "learner") for index in range(actors))
        instructors = tuple(_agent(rng, index, "instructor") for index in range(50))
        courses = tuple(f"{ACTIVITY_BASE}/course-{c:02d}" for c in range(20))
        modules = tuple(f"{course}/module-{m:02d}" for course in courses for m in range(10))
        programmes = tuple(f"{ACTIVITY_BASE}/programme-{p}" for p in range(4))
        regs = tuple(str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(registrations))
        return cls(people, instructors, modules, courses, programmes, regs)


def _agent(rng: random.Random, index: int, role: str) -> dict[str, Any]:
    name = f"{role.title()} {index:04d}"
    if rng.random() < 0.8:
        return {"objectType": "Agent", "name": name, "mbox": f"mailto:{role}{index:04d}@example.com"}
    account = {"homePage": HOME_PAGE, "name": f"{role}-{index:04d}"}
    return {"objectType": "Agent", "name": name, "account": account}


def agent_param(agent: dict[str, Any]) -> dict[str, Any]:
    """The ``agent`` query parameter (IFI only) for an agent of the universe."""
    return {key: agent[key] for key in ("objectType", "mbox", "account") if key in agent}


@dataclass
class StatementFactory:
    universe: Universe
    seed: int
    voiding_share: float = 0.005
    rng: random.Random = field(init=False)
    recent_ids: deque[str] = field(init=False)
    _verb_names: list[str] = field(init=False)
    _verb_weights: list[float] = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.recent_ids = deque(maxlen=5000)
        self._verb_names = [name for name, _ in VERBS]
        self._verb_weights = [weight for _, weight in VERBS]

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _timestamp(self) -> str:
        moment = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=self.rng.randrange(180 * 86400))
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def statement(self) -> dict[str, Any]:
        """One statement; a voiding one now and then once earlier statements exist."""
        if self.recent_ids and self.rng.random() < self.voiding_share:
            return self._voiding()
        statement = self._learning()
        self.recent_ids.append(statement["id"])
        return statement

    def batch(self, size: int) -> list[dict[str, Any]]:
        return [self.statement() for _ in range(size)]

    def _voiding(self) -> dict[str, Any]:
        # Pop so that a statement is voided at most once and never by two batches at once.
        target = self.recent_ids.popleft()
        return {
            "id": self._uuid(),
            "actor": self.rng.choice(self.universe.instructors),
            "verb": {"id": VOIDED_VERB, "display": {"en-US": "voided"}},
            "object": {"objectType": "StatementRef", "id": target},
            "timestamp": self._timestamp(),
        }

    def _learning(self) -> dict[str, Any]:
        rng = self.rng
        universe = self.universe
        verb = rng.choices(self._verb_names, self._verb_weights)[0]
        module = rng.choice(universe.modules)
        course = module.rsplit("/", 1)[0]
        programme = universe.programmes[universe.courses.index(course) % len(universe.programmes)]
        context: dict[str, Any] = {
            "platform": "Example LMS",
            "language": "en-US",
            "contextActivities": {
                "parent": [{"id": course, "objectType": "Activity"}],
                "grouping": [{"id": programme, "objectType": "Activity"}],
                "category": [{"id": CATEGORY_ID, "objectType": "Activity"}],
            },
        }
        if rng.random() < 0.8:
            context["registration"] = rng.choice(universe.registrations)
        if rng.random() < 0.2:
            context["instructor"] = rng.choice(universe.instructors)
        statement: dict[str, Any] = {
            "id": self._uuid(),
            "actor": rng.choice(universe.actors),
            "verb": {"id": verb_id(verb), "display": {"en-US": verb}},
            "object": {
                "objectType": "Activity",
                "id": module,
                "definition": {
                    "name": {"en-US": f"Module {module[-2:]} of {course.rsplit('/', 1)[1]}"},
                    "description": {"en-US": "A self-paced module with a short assessment at the end."},
                    "type": "http://adlnet.gov/expapi/activities/module",
                },
            },
            "context": context,
            "timestamp": self._timestamp(),
        }
        if verb in {"answered", "completed", "passed", "failed"}:
            raw = rng.randrange(0, 101)
            statement["result"] = {
                "score": {"scaled": raw / 100, "raw": raw, "min": 0, "max": 100},
                "success": verb != "failed" and raw >= 50,
                "completion": verb != "answered",
                "duration": f"PT{rng.randrange(1, 3600)}S",
            }
        return statement
