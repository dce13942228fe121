"""Every argument of every command of the project says what it is for in ``--help``, positional
ones included (Django's own options, shared by all commands, have theirs)."""

from __future__ import annotations

import argparse

import pytest
from django.core.management import get_commands, load_command_class

DJANGO_OPTIONS = {
    "-h",
    "--version",
    "--verbosity",
    "--settings",
    "--pythonpath",
    "--traceback",
    "--no-color",
    "--force-color",
    "--skip-checks",
}
OURS = sorted(name for name, app in get_commands().items() if app in ("adapters", "lrs"))


def test_the_commands_of_both_apps_are_found():
    assert {"deliveries_backfill", "deliveries_replay", "reconcile", "create_credential"} <= set(OURS)


@pytest.mark.parametrize("name", OURS)
def test_every_argument_has_help(name: str):
    parser = load_command_class(get_commands()[name], name).create_parser("manage.py", name)
    ours = [action for action in parser._actions if not DJANGO_OPTIONS & set(action.option_strings)]
    assert parser.description, f"{name}: no help for the command itself"
    for action in ours:
        what = "/".join(action.option_strings) or action.dest
        assert action.help and action.help != argparse.SUPPRESS and action.help.strip(), (
            f"{name} {what}: no help"
        )
    parser.format_help()  # a stray % in a help text would raise here
