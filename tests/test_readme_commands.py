"""The README's commands work as pasted. Every line of a README code block or code span that starts
with ``QUICKSTART`` is meant for a quickstart checkout (after ``bash scripts/quickstart.sh`` ran
once): each runs here, in order, from the repository root with a fresh shell's environment, on a
throwaway SQLite database migrated as the quickstart does, and must exit 0. Every
``docker compose exec SERVICE python manage.py ...`` line must name a compose service that runs
the LRS image and a management command that exists. A command for a quickstart checkout that
cannot run as written (a placeholder such as ``<target>``) must not carry the marker."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
QUICKSTART = "LRS_ENV=development .venv/bin/python manage.py "
COMPOSE_EXEC = re.compile(r"^docker compose exec (?P<service>[\w-]+) python manage\.py (?P<command>[\w-]+)")
# What a quickstart checkout's shell does not have: the settings of some other deployment or test run.
FOREIGN_ENV = ("LRS_", "DATABASE_", "CELERY_", "REDIS_", "SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_")


def code_lines(markdown: str) -> list[str]:
    """Every line of a fenced code block, and every code span outside them, in README order."""
    lines: list[str] = []
    fenced = False
    for line in markdown.splitlines():
        if line.strip().startswith("```"):
            fenced = not fenced
        elif fenced:
            lines.append(line.strip())
        else:
            lines.extend(span.strip() for span in re.findall(r"`([^`]+)`", line))
    return lines


def quickstart_commands() -> list[str]:
    return [line for line in code_lines(README) if line.startswith(QUICKSTART)]


def test_every_quickstart_command_of_the_readme_is_found_in_a_code_block_or_span():
    # A command wrapped over two lines of a code span would escape the test below: none may.
    assert quickstart_commands(), f"no README line starts with {QUICKSTART!r}"
    assert len(quickstart_commands()) == README.count(QUICKSTART)


@pytest.mark.sqlite
def test_every_quickstart_command_of_the_readme_runs_in_a_quickstart_checkout(tmp_path):
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("no .venv: the quickstart (or scripts/test.sh) creates it")
    env = {name: value for name, value in os.environ.items() if not name.startswith(FOREIGN_ENV)}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'lrs.sqlite3'}"  # instead of the checkout's own
    commands = [f"{QUICKSTART}migrate --noinput", *quickstart_commands()]
    for command in commands:
        done = subprocess.run(
            ["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"


def test_every_compose_command_of_the_readme_names_an_lrs_service_and_an_existing_command():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    lrs_image = services["migrate"]["image"]
    found = [match for line in code_lines(README) if (match := COMPOSE_EXEC.match(line))]
    assert found, "the README shows no `docker compose exec ... manage.py` command"
    for match in found:
        assert services[match["service"]]["image"] == lrs_image, match[0]
        assert match["command"] in get_commands(), match[0]
