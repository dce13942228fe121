"""Import files that are not what ``import_hris`` and ``import_identities`` read exit 1 with a
CommandError naming the file, the line and the rule, never a traceback, and change nothing:

- a file not in UTF-8 (an HRIS export saved as Latin-1 or Windows-1252): the first line that is
  not, rule ``utf-8`` (was: UnicodeDecodeError);
- a CSV row with more cells than the header has columns (was: the extra cells dropped
  silently, an address with them);
- a JSON-lines row nested beyond ``LRS_MAX_JSON_DEPTH`` (was: RecursionError) or naming a key
  twice (was: the last kept silently), read as the xAPI resources and the HRIS API read JSON:
  that row rejected with its line and rule, the others applied.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from tests.adapters.management.conftest import database, run

pytestmark = pytest.mark.django_db

HRIS_HEADER = "employee_id,emails,accounts,status,effective_date,manager_id,department\n"


@pytest.mark.parametrize(
    ("command", "name", "text"),
    [
        (
            "import_hris",
            "feed.csv",
            HRIS_HEADER + "E1,ada@example.com,,active,,,\nE2,rené@example.com,,active,,,\n",
        ),
        (
            "import_hris",
            "feed.jsonl",
            '{"employee_id": "E0"}\n{"employee_id": "E1"}\n{"employee_id": "E2", "department": "Fürth"}\n',
        ),
        ("import_identities", "links.csv", "employee_id,email\nE1,ada@example.com\nE2,rené@example.com\n"),
    ],
)
def test_a_file_not_in_utf8_is_refused_naming_it_its_line_and_the_rule(tmp_path, command, name, text):
    path = tmp_path / name
    path.write_bytes(text.encode("latin-1"))
    before = database()
    with pytest.raises(CommandError) as refused:
        run(command, str(path), "--no-progress")
    message = str(refused.value)
    assert str(path) in message and "line 3" in message and "UTF-8" in message and "(rule utf-8)" in message
    assert database() == before


@pytest.mark.parametrize(
    ("row", "rule"),
    [
        ("[" * 5000 + "]" * 5000, "json-depth"),
        ('{"employee_id": "E2", "employee_id": "E3"}', "duplicate-property"),
    ],
    ids=["deep", "duplicate"],
)
def test_a_json_lines_row_not_read_strictly_is_rejected_with_its_line_and_rule(tmp_path, row, rule):
    path = tmp_path / "feed.jsonl"
    path.write_text('{"employee_id": "E1"}\n' + row + "\n")
    before = database()
    out = io.StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("import_hris", str(path), "--no-progress", "--dry-run", stdout=out, stderr=io.StringIO())
    assert "1 rows rejected" in str(refused.value)
    assert "line 2: - rejected: " in out.getvalue() and f"(rule {rule})" in out.getvalue(), out.getvalue()
    assert database() == before


def test_an_identities_row_with_more_cells_than_the_header_is_refused_naming_its_line(tmp_path):
    # The operator meant two addresses; the second cell has no column and was dropped silently.
    path = tmp_path / "links.csv"
    path.write_text("employee_id,email\nE1,ada@example.com,ada@example.org\n")
    before = database()
    with pytest.raises(CommandError) as refused:
        run("import_identities", str(path), "--no-progress")
    assert "line 2" in str(refused.value) and "more cells" in str(refused.value), str(refused.value)
    assert database() == before


def test_an_hris_row_with_more_cells_than_the_header_is_rejected_naming_its_line(tmp_path):
    path = tmp_path / "feed.csv"
    path.write_text(HRIS_HEADER + "E1,ada@example.com,,active,,,Sales,ada@example.org\n")
    before = database()
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_hris", str(path), "--no-progress", "--dry-run", stdout=out, stderr=io.StringIO())
    assert "line 2: E1 rejected: " in out.getvalue() and "more cells" in out.getvalue(), out.getvalue()
    assert database() == before
