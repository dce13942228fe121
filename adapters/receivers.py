"""Listening to the LRS: its signals fire inside the storing transaction, so the outbox
rows written here commit (or roll back) together with the statements."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from adapters import services
from lrs.signals import statements_stored, statements_voided


@receiver(statements_stored, dispatch_uid="adapters.deliveries_create")
def on_statements_stored(sender: Any, statement_pks: list[int], **kwargs: Any) -> None:
    services.deliveries_create(statement_pks=statement_pks)


@receiver(statements_voided, dispatch_uid="adapters.deliveries_for_voided")
def on_statements_voided(sender: Any, statement_pks: list[int], **kwargs: Any) -> None:
    services.deliveries_for_voided(statement_pks=statement_pks)
