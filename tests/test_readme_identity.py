"""The README's identity API ``curl`` examples work as written on the quickstart: set up as
``scripts/quickstart.sh`` sets it up (migrate, the demo targets and data, ``quickstart_accounts``) on
a throwaway SQLite database and served by ``runserver``, each README command runs in a shell that
ran the ``export`` line the quickstart printed, and the identity links then hold what the commands
say (add, move, remove). The quickstart's demo xAPI credential holds ``all``, which does not
include ``identity/write``: the commands need the demo HRIS credential it prints too."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.adapters.helpers import restartable_port, wait_until
from tests.test_readme_commands import FOREIGN_ENV, README, ROOT

README_ADDRESS = "127.0.0.1:8000"  # where the README's commands (and the quickstart) reach the LRS


def identity_commands(markdown: str) -> list[str]:
    """The README's fenced ``curl`` commands for the identity API, continuation lines joined."""
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", markdown, flags=re.S):
        joined = re.sub(r"\\\n\s*", "", block)
        commands += [line.strip() for line in joined.splitlines() if line.strip().startswith("curl")]
    return [command for command in commands if "/api/identity/employees/" in command]


def _links(env: dict[str, str]) -> dict[str, list[str]]:
    """Employee id -> the e-mail addresses linked to it, as the quickstart's database holds them."""
    code = (
        "import json; from adapters.models import IdentityLink; "
        "links = IdentityLink.objects.filter(kind='email'); "
        "print(json.dumps(sorted([link.employee_id, link.value] for link in links)))"
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    links: dict[str, list[str]] = {}
    for employee_id, address in json.loads(done.stdout.splitlines()[-1]):
        links.setdefault(employee_id, []).append(address)
    return links


@pytest.mark.sqlite
def test_the_readme_identity_commands_work_as_written_on_the_quickstart(tmp_path: Path):
    commands = identity_commands(README)
    assert len(commands) == 3, commands  # add, move, remove
    port = restartable_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith(FOREIGN_ENV)}
    env |= {
        # As scripts/quickstart.sh sets them.
        "LRS_ENV": "development",
        "LRS_TARGETS_FILE": "config/demo_targets.json",
        "DEMO_WEBHOOK_SECRET": "demo-webhook-secret",
        "DEMO_PMS_SECRET": "pms-secret",
        "DEMO_MARKETPLACE_SECRET": "marketplace-secret",
        "DEMO_GRAPH_SECRET": "graph-secret",
        "DEMO_SLACK_TOKEN": "xoxb-000000000000-0000000000000-fakebottoken000000000000",
        "LRS_ADDRESS": f"127.0.0.1:{port}",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'quickstart.sqlite3'}",
    }
    printed = ""
    for command in ("migrate --noinput", "load_targets", "load_demo_data", "quickstart_accounts"):
        done = subprocess.run(
            [sys.executable, "manage.py", *command.split()], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        printed += done.stdout
    exports = re.findall(r"^\s*(export HRIS_CREDENTIAL=\S+)$", printed, flags=re.M)
    assert exports, f"the quickstart prints no credential for the identity API:\n{printed}"
    assert _links(env) == {"E100": ["ada@example.com"]}  # load_demo_data's link

    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(
            lambda: _answers(f"http://127.0.0.1:{port}/xapi/about"), timeout=60, message="runserver answering"
        )
        expected = [
            {"E100": ["ada@example.com"]},  # add (already linked by the demo data: nothing doubled)
            {"E200": ["ada@example.com"]},  # move from E100
            {},  # remove
        ]
        shell_env = {name: value for name, value in env.items() if not name.startswith(FOREIGN_ENV)}
        for command, links in zip(commands, expected, strict=True):
            # As pasted into a shell that ran the quickstart's export line; only the port is this test's.
            here = command.replace(README_ADDRESS, f"127.0.0.1:{port}")
            script = f"{exports[-1]}\n{here} -w '\\n%{{http_code}}'"  # the status on a line of its own
            done = subprocess.run(
                ["bash", "-c", script], env=shell_env, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
            assert done.stdout.splitlines()[-1].startswith("2"), f"{command}\n{done.stdout}"
            assert _links(env) == links, command
    finally:
        server.terminate()
        server.wait(timeout=15)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.ConnectionError:
        return False
