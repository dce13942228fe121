"""Helpers for the management command tests: run a command in-process, and a snapshot of every
table, to show that a dry run changes nothing."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.apps import apps
from django.core.management import call_command

from adapters.models import Delivery, Target
from lrs.statements.store import statement_store
from tests.adapters.helpers import expand_outbox
from tests.conftest import make_statement


def run(name: str, *args: str) -> tuple[str, str]:
    """``manage.py NAME ARGS`` in this process: its stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def database() -> dict[str, list[dict[str, Any]]]:
    """Every row of every table of the project and of the users: equal before and after a dry run."""
    models = [
        *apps.get_app_config("lrs").get_models(),
        *apps.get_app_config("adapters").get_models(),
        *apps.get_app_config("auth").get_models(),
    ]
    return {model._meta.label: list(model.objects.order_by("pk").values()) for model in models}


def deliveries_of(target: Target, count: int, status: str = Delivery.DEAD) -> list[int]:
    """``count`` stored statements with a delivery to ``target`` each, in ``status``; their ids.
    The after-commit hooks never run (the test's transaction never commits): nothing is sent."""
    statement_store(statements=[make_statement() for _ in range(count)], credential=None)
    ids = sorted(expand_outbox())
    Delivery.objects.filter(id__in=ids, target=target).update(status=status)
    return sorted(Delivery.objects.filter(id__in=ids, target=target).values_list("id", flat=True))


@pytest.fixture
def other_target(db) -> Target:
    """A second webhook target, "other" (nothing is ever sent to it)."""
    return Target.objects.create(
        name="other", adapter="webhook", config={"url": "http://127.0.0.1:9/hook", "secret": "s"}
    )
