"""Admin of targets: configuration, health (pending, retrying, dead, delivered, lag), replay of
dead letters, resuming a paused target."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from adapters.delivery import queue
from adapters.delivery.replay import deliveries_replay
from adapters.models import Target
from adapters.ops.selectors import target_health
from adapters.reconciliation.tasks import RECONCILE_TASK, default_window, reconcile_target
from adapters.registry import adapter_names


class TargetForm(forms.ModelForm):
    adapter = forms.ChoiceField(choices=[])

    class Meta:
        model = Target
        fields = (
            "name",
            "adapter",
            "enabled",
            "receives",
            "config",
            "filter",
            "rate_limit_per_second",
            "concurrency",
            "max_attempts",
        )
        help_texts = {
            "config": 'Secrets as references only, e.g. "secret": {"env": "WEBHOOK_SECRET"}.',
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["adapter"].choices = [(name, name) for name in adapter_names()]


@admin.register(Target)
class TargetAdmin(admin.ModelAdmin):
    form = TargetForm
    list_display = ("name", "adapter", "enabled", "health_summary", "last_error", "lag", "paused_until")
    list_filter = ("enabled", "adapter", "source")
    readonly_fields = ("source", "consecutive_failures", "paused_until", "disabled_reason", "health_detail")
    actions = ["replay_dead", "resume", "reconcile_now", "reconcile_and_repair"]

    def _health(self, obj: Target):
        cache = getattr(self, "_health_cache", {})
        if obj.pk not in cache:
            cache[obj.pk] = target_health(obj)
            self._health_cache = cache
        return cache[obj.pk]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        self._health_cache = {}
        return super().changelist_view(request, extra_context)

    @admin.display(description="pending / retrying / dead / delivered (1 h)")
    def health_summary(self, obj: Target) -> str:
        health = self._health(obj)
        return f"{health.pending} / {health.retrying} / {health.dead} / {health.delivered_last_hour}"

    @admin.display(description="last error")
    def last_error(self, obj: Target) -> str:
        return self._health(obj).last_error[:120]

    @admin.display(description="lag p50 / p95 (s)")
    def lag(self, obj: Target) -> str:
        health = self._health(obj)
        if health.lag_p50_seconds is None:
            return "-"
        return f"{health.lag_p50_seconds:.2f} / {health.lag_p95_seconds:.2f}"

    @admin.display(description="health")
    def health_detail(self, obj: Target) -> str:
        if obj.pk is None:
            return "-"
        return format_html("<pre>{}</pre>", json.dumps(self._health(obj).__dict__, indent=2, default=str))

    @admin.action(description="Replay dead deliveries of the selected targets")
    def replay_dead(self, request: HttpRequest, queryset: QuerySet) -> None:
        outcomes = [deliveries_replay(target=target) for target in queryset]
        total = sum(len(outcome.replayed) for outcome in outcomes)
        refused = [reason for outcome in outcomes for _id, reason in outcome.refused]
        self.message_user(request, f"replaying {total} deliveries")
        if refused:
            self.message_user(
                request, f"refused {len(refused)}: {'; '.join(refused[:5])}", level=messages.WARNING
            )

    @admin.action(description="Resume paused targets now")
    def resume(self, request: HttpRequest, queryset: QuerySet) -> None:
        queryset.update(paused_until=None, consecutive_failures=0)
        self.message_user(request, "resumed")

    @admin.action(description="Reconcile the selected targets (yesterday plus a day of overlap)")
    def reconcile_now(self, request: HttpRequest, queryset: QuerySet, repair: bool = False) -> None:
        since, until = (moment.isoformat() for moment in default_window(timezone.now()))
        queryset = queryset.exclude(receives=Target.RECEIVES_ALERTS)  # they take no statements
        for target in queryset:
            args = (target.id, since, until, repair)
            # With a broker a worker runs it; without one (the quickstart) it runs here, now.
            if not settings.CELERY_BROKER_URL or not queue.publish(RECONCILE_TASK, args):
                reconcile_target(*args)
        self.message_user(request, f"reconciling {queryset.count()} target(s): see Reconciliation runs")

    @admin.action(description="Reconcile and repair the selected targets (same window)")
    def reconcile_and_repair(self, request: HttpRequest, queryset: QuerySet) -> None:
        self.reconcile_now(request, queryset, repair=True)
