"""What the fan-out's management commands share: the progress bar of a long command, the dry run
of one whose service has none of its own, and the reading of what they are given (a file, a
person) as strictly as the APIs read it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from tqdm import tqdm

from adapters.models import Target
from lrs.xapi import json_limits
from lrs.xapi.errors import XAPIValidationError
from lrs.xapi.json_types import parse_json as strict_json
from lrs.xapi.json_types import reject_unwritable, unstorable

DRY_RUN_NOTE = "dry run, nothing changed"


def add_progress_argument(parser: CommandParser) -> None:
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (it shows count, rate and ETA on stderr; the summary is on stdout)",
    )


def progress_bar(
    command: BaseCommand, *, total: int | None, unit: str, desc: str, disable: bool, initial: int = 0
) -> tqdm:
    """A bar on the command's stderr: count, rate and ETA (no ETA while ``total`` is None).

    It is drawn whether or not stderr is a terminal: a log of a nightly run shows how far it came
    and how fast, and stdout keeps only the summary for scripts to read."""
    return tqdm(
        total=total,
        initial=initial,
        unit=unit,
        unit_scale=True,
        desc=desc,
        file=command.stderr._out,
        disable=disable,
        dynamic_ncols=True,
    )


@contextmanager
def rolled_back_if(dry_run: bool) -> Iterator[None]:
    """Run the block in a transaction that a dry run rolls back at the end.

    The work is really done, so a dry run counts exactly what a real run would do; then none of it
    is kept, and what it asked to run after commit (sending, draining) is dropped with it. Only for
    services whose effects are all in the database."""
    with transaction.atomic():
        yield
        if dry_run:
            transaction.set_rollback(True)


def read_utf8(path: Path) -> str:
    """The text of an import file, or a CommandError naming it: unreadable (its OS error), or not
    UTF-8 (its first such line, rule ``utf-8``: an export saved as Latin-1 or Windows-1252 was a
    UnicodeDecodeError traceback). A byte order mark is read past."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
    raise CommandError(f"{path}: line {line} is not UTF-8 text (rule utf-8); save the file as UTF-8")


def person_named(agent_json: str | None, employee_id: str | None) -> tuple[Any, str | None]:
    """``--agent`` and ``--employee-id`` of erase_actor and export_actor, or a CommandError naming
    the argument (or the agent's property) and the rule: the agent read as the xAPI resources and
    the privacy API read JSON (depth, a property twice: else the last was taken, so the command
    erased a person it was not given), and no lone surrogate in either (a byte of a non-UTF-8
    shell Python read with ``surrogateescape``), which the database cannot encode."""
    json_limits.max_depth_set(settings.LRS_MAX_JSON_DEPTH)
    try:
        agent = None if agent_json is None else strict_json(agent_json, path="--agent")
        reject_unwritable(agent, "--agent")
        reject_unwritable(employee_id, "--employee-id")
    except XAPIValidationError as exc:
        raise CommandError(f"{exc.describe()} (rule {exc.rule})") from None
    return agent, employee_id


def target_named(name: str) -> Target | None:
    """The target a command names, or None: a name no target can have (a lone surrogate, a byte
    of a non-UTF-8 shell read with ``surrogateescape``, which the database cannot encode: it was
    a UnicodeEncodeError traceback) is as unknown as any other."""
    if unstorable(name):
        return None
    return Target.objects.filter(name=name).first()
