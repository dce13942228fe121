"""Slack direct messages: how long one drained batch of them takes, and how much of it is
preparing (``users.lookupByEmail`` for each learner, among others, and those made ahead of it:
``adapters.delivery.pacing.ahead``), against the fake Slack
(``tests/targets/slack_server.py``) answering every request after ``--latency`` seconds.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lrs_bench_slack \\
        .venv/bin/python -m bench.slack_dm --learners 20 --latency 0.1 --concurrency 8

The database must exist and be migrated (``manage.py migrate``); the script deletes the Slack
target it creates, its deliveries and its statements' outbox rows when done. Two batches for
the same learners: the first as any, the second after it (whatever the adapter remembers of them).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds the fake takes to answer")
    parser.add_argument("--concurrency", type=int, default=8, help="the target's concurrency cap")
    args = parser.parse_args(argv)
    os.environ.setdefault("LRS_ENV", "test")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from tests.targets.behaviours import hang
    from tests.targets.slack_server import SlackServer

    with SlackServer() as slack:
        slack.set_default(hang(args.latency))
        emails = [f"learner{n:03d}@example.com" for n in range(args.learners)]
        for email in emails:
            slack.add_user(email)
        for label in ("first batch", "second batch, same learners"):
            figures = _one_batch(slack, emails, args.concurrency)
            print(
                f"{label}: {args.learners} DMs in {figures['total']:.2f} s, preparing "
                f"{figures['preparing']:.2f} s; users.lookupByEmail {figures['lookups']}, "
                f"messages {figures['messages']}"
            )


def _one_batch(slack: Any, emails: list[str], concurrency: int) -> dict[str, float]:
    from django.db import transaction

    from adapters.models import Delivery, Target
    from adapters.slack.adapter import SlackAdapter
    from lrs.statements.store import statement_store
    from tests.adapters.helpers import COURSE
    from tests.conftest import make_statement

    os.environ["BENCH_SLACK_TOKEN"] = slack.bot_token
    Target.objects.filter(name="bench-slack").delete()
    Target.objects.create(
        name="bench-slack",
        adapter="slack",
        concurrency=concurrency,
        config={
            "mode": "bot",
            "bot_token": {"env": "BENCH_SLACK_TOKEN"},
            "api_base": slack.api_url,
            "default_channel": "#general",
            "direct_message": True,
        },
    )
    statements = [make_statement(actor_email=e, activity=COURSE, result={"completion": True}) for e in emails]
    preparing = [0.0]
    try:  # absent from a checkout before look-ups were made ahead: measured as it was
        from adapters.delivery.pacing import ahead
    except ImportError:
        ahead = None  # type: ignore[assignment]
    prepare, look_ahead = SlackAdapter.prepare, getattr(ahead, "look_ahead", None)

    def timed(self: SlackAdapter, *a: Any, **k: Any) -> Any:
        began = time.perf_counter()
        try:
            return prepare(self, *a, **k)
        finally:
            preparing[0] += time.perf_counter() - began

    def timed_ahead(*a: Any, **k: Any) -> Any:  # the look-ups made before preparing count as it
        began = time.perf_counter()
        try:
            return look_ahead(*a, **k)  # type: ignore[misc]
        finally:
            preparing[0] += time.perf_counter() - began

    lookups, messages = len(slack.requests_for("users.lookupByEmail")), len(slack.messages())
    SlackAdapter.prepare = timed  # type: ignore[method-assign]
    if look_ahead is not None:
        ahead.look_ahead = timed_ahead
    began = time.perf_counter()
    try:
        with transaction.atomic():  # the eager drain runs after the commit: one batch of them all
            statement_store(statements=statements, credential=None)
    finally:
        SlackAdapter.prepare = prepare  # type: ignore[method-assign]
        if look_ahead is not None:
            ahead.look_ahead = look_ahead
    total = time.perf_counter() - began
    delivered = Delivery.objects.filter(target__name="bench-slack", status=Delivery.DELIVERED).count()
    assert delivered == len(emails), f"{delivered} of {len(emails)} delivered"
    return {
        "total": total,
        "preparing": preparing[0],
        "lookups": len(slack.requests_for("users.lookupByEmail")) - lookups,
        "messages": len(slack.messages()) - messages,
    }


if __name__ == "__main__":
    main()
