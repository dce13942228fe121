"""``erase_actor`` and ``export_actor`` name the person by ``--agent JSON`` or ``--employee-id``;
one they cannot take is a CommandError naming the argument (or the agent's property) and the rule,
never a traceback, and nothing is erased, recorded or written:

- ``--agent`` read as the xAPI resources and the privacy API read JSON: nested beyond
  ``LRS_MAX_JSON_DEPTH`` (was: RecursionError), a property twice (was: the last kept silently, so
  ``{"mbox": A, "mbox": B}`` erased B), a lone surrogate escape (was: UnicodeEncodeError);
- a lone surrogate in the argument itself (a byte of a non-UTF-8 shell Python read with
  ``surrogateescape``), in the agent or the employee id (was: UnicodeEncodeError).
"""

from __future__ import annotations

import pytest
from django.core.management import CommandError

from tests.adapters.management.conftest import database, run

pytestmark = pytest.mark.django_db

ACCOUNT = '{"account": {"homePage": "https://lms.example.com", "name": "%s"}}'

# (arguments, what the refusal must name, the rule it must name)
BAD = [
    (["--agent", "[" * 5000 + "]" * 5000], "--agent", "json-depth"),
    (
        ["--agent", '{"mbox": "mailto:ada@example.com", "mbox": "mailto:grace@example.com"}'],
        "--agent.mbox",
        "duplicate-property",
    ),
    (["--agent", ACCOUNT % "\\ud800"], "--agent.account.name", "unpaired-surrogate"),
    (["--agent", ACCOUNT % "ren\udce9"], "--agent.account.name", "unpaired-surrogate"),
    (["--employee-id", "ren\udce9"], "--employee-id", "unpaired-surrogate"),
]


@pytest.mark.parametrize(
    ("arguments", "place", "rule"), BAD, ids=["deep", "twice", "escape", "argv", "employee"]
)
@pytest.mark.parametrize("command", ["erase_actor", "export_actor"])
def test_a_person_argument_not_taken_is_refused_naming_it_and_the_rule(
    tmp_path, command, arguments, place, rule
):
    output = tmp_path / "export.zip"
    extra = ["--dry-run"] if command == "erase_actor" else ["--output", str(output), "--no-progress"]
    before = database()
    with pytest.raises(CommandError) as refused:
        run(command, *arguments, *extra)
    message = str(refused.value)
    assert message.startswith(f"{place}: ") and f"(rule {rule})" in message, message
    assert database() == before
    assert not output.exists()
