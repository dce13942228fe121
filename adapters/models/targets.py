"""Targets: the configured instances of the adapters, with their filter, pacing and circuit
breaker state."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from adapters.config import ConfigProblem, validate_target_config
from adapters.registry import adapter_class


class Target(models.Model):
    """A configured adapter: where to deliver, with which configuration and statement filter."""

    SOURCE_ADMIN = "admin"
    SOURCE_FILE = "file"
    RECEIVES_STATEMENTS = "statements"
    RECEIVES_ALERTS = "alerts"
    RECEIVES_BOTH = "both"

    name = models.SlugField(max_length=100, unique=True)
    adapter = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    config = models.JSONField(default=dict, blank=True)
    filter = models.JSONField(
        default=dict, blank=True, help_text="Statement filter; empty = completed or scored"
    )
    rate_limit_per_second = models.FloatField(
        null=True,
        blank=True,
        help_text=(
            "Requests per second across all workers (a webhook with a batch_size carries up to that "
            "many deliveries in each); empty = unlimited"
        ),
    )
    max_attempts = models.PositiveIntegerField(default=12)
    concurrency = models.PositiveSmallIntegerField(
        default=32, help_text="Requests in flight at once to this target, across all workers"
    )
    # Circuit breaker: after repeated failures the target is paused and probed, not hammered.
    consecutive_failures = models.PositiveIntegerField(default=0)
    paused_until = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.TextField(blank=True, default="")
    # An alert target (adapters/alerts) gets the LRS's own alerts; "alerts" alone takes no statement.
    receives = models.CharField(
        max_length=10,
        default=RECEIVES_STATEMENTS,
        choices=[
            (RECEIVES_STATEMENTS, "statements"),
            (RECEIVES_ALERTS, "alerts only"),
            (RECEIVES_BOTH, "both"),
        ],
        help_text="Statements (the fan-out), the LRS's alerts, or both",
    )
    source = models.CharField(max_length=10, default=SOURCE_ADMIN, editable=False)
    # The names an admin renamed the target from, oldest first: without a ``pseudonym_key`` its
    # name keys the pseudonyms it is sent (``Adapter.pseudonym``), so an erasure notice names the
    # person under each (``adapters.privacy.per_target.notice_for``), even once retention deleted
    # the deliveries whose keys showed them, or a delivery went out under a name its key lacks.
    former_names = models.JSONField(default=list, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            before = Target.objects.filter(pk=self.pk).values_list("name", flat=True).first()
            if before is not None and before != self.name and before not in self.former_names:
                self.former_names = [*self.former_names, before]
                if kwargs.get("update_fields") is not None:
                    kwargs["update_fields"] = {*kwargs["update_fields"], "former_names"}
        super().save(*args, **kwargs)

    def clean(self) -> None:
        try:
            validate_target_config(adapter=self.adapter, config=self.config, filter_rules=self.filter)
        except ConfigProblem as problem:
            raise ValidationError({problem.field: problem.message}) from None
        if self.receives != self.RECEIVES_STATEMENTS:
            problem = adapter_class(self.adapter).alert_config_problem(self.config or {})
            if problem:
                raise ValidationError({"receives": problem})
