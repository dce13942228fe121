"""Listening to the LRS: its signals fire inside the storing transaction, so the outbox
rows written here commit (or roll back) together with the statements."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from adapters.delivery import outbox, voiding
from adapters.models import Target
from adapters.targets.enabled import forget_targets
from lrs.statements.bulk import CompanionRows
from lrs.statements.signals import statements_storing, statements_voided


@receiver(statements_storing, dispatch_uid="adapters.outbox_rows_at_ingest")
def on_statements_storing(
    sender: Any, statement_pks: list[int], statements: list[dict], **kwargs: Any
) -> list[CompanionRows]:
    return outbox.outbox_rows_at_ingest(statement_pks=statement_pks, statements=statements)


@receiver(statements_voided, dispatch_uid="adapters.deliveries_for_voided")
def on_statements_voided(sender: Any, statement_pks: list[int], **kwargs: Any) -> None:
    voiding.deliveries_for_voided(statement_pks=statement_pks)


@receiver([post_save, post_delete], sender=Target, dispatch_uid="adapters.forget_targets")
def on_target_changed(sender: Any, **kwargs: Any) -> None:
    forget_targets()
