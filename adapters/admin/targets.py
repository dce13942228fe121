"""Admin of targets: configuration (``adapters.admin.forms``), state (sending, paused until,
disabled), health (pending, retrying, held, dead, delivered, lag), replay of dead letters,
resuming a paused target."""

from __future__ import annotations

import json
import threading
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from adapters.admin.deliveries import WideList, seconds
from adapters.admin.forms import TargetForm
from adapters.delivery import queue
from adapters.delivery.replay import deliveries_replay
from adapters.models import Delivery, Target
from adapters.ops.selectors import target_health
from adapters.reconciliation.tasks import RECONCILE_TASK, default_window, reconcile_target


@admin.register(Target)
class TargetAdmin(WideList):
    form = TargetForm
    list_display = ("name", "adapter", "state", "health_summary", "lag", "last_error")
    list_filter = ("enabled", "adapter", "source")
    readonly_fields = ("source", "consecutive_failures", "paused", "disabled_reason", "health_detail")
    fieldsets = (
        (None, {"fields": ("name", "adapter", "enabled", "receives", "config", "filter")}),
        ("Pacing", {"fields": ("rate_limit_per_second", "concurrency", "max_attempts")}),
        (
            "State",
            {"fields": ("source", "consecutive_failures", "paused", "disabled_reason", "health_detail")},
        ),
    )
    actions = ["replay_dead", "resume", "reconcile_now", "reconcile_and_repair"]

    # What one change-list page computes once for all its rows. Per thread: the admin instance is
    # shared by every request the process serves at once (gunicorn's threads).
    _page = threading.local()

    def _health(self, obj: Target):
        cache = getattr(self._page, "health", None)
        if cache is None:
            cache = self._page.health = {}
        if obj.pk not in cache:
            cache[obj.pk] = target_health(obj)
        return cache[obj.pk]

    def _held(self, obj: Target) -> int:
        held = getattr(self._page, "held", None)
        if held is None:  # one query for the page (through the partial index of held rows)
            rows = Delivery.objects.filter(status=Delivery.HELD).values_list("target").annotate(n=Count("id"))
            held = self._page.held = dict(rows.order_by())
        return held.get(obj.pk, 0)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        # Reset here, read while the response renders (later, on this same thread).
        self._page.health, self._page.held = {}, None
        return super().changelist_view(request, extra_context)

    @admin.display(description="state")
    def state(self, obj: Target) -> str:
        if not obj.enabled:
            return format_html('<span title="{}">disabled</span>', obj.disabled_reason or "by admin")
        if obj.paused_until and obj.paused_until > timezone.now():
            return format_html(
                "<b>paused</b> until {} ({} failures)", seconds(obj.paused_until), obj.consecutive_failures
            )
        return "sending"

    @admin.display(description="paused until")
    def paused(self, obj: Target) -> str:
        return seconds(obj.paused_until) if obj.paused_until else "-"

    @admin.display(description="pending / retrying / held / dead / delivered 1 h")
    def health_summary(self, obj: Target) -> str:
        health = self._health(obj)
        return (
            f"{health.pending} / {health.retrying} / {self._held(obj)} / {health.dead} / "
            f"{health.delivered_last_hour}"
        )

    @admin.display(description="last error")
    def last_error(self, obj: Target) -> str:
        error = self._health(obj).last_error
        if len(error) <= 60:
            return error
        return format_html('<span title="{}">{}…</span>', error, error[:60])

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
        health = {**target_health(obj).__dict__, "held": obj.deliveries.filter(status=Delivery.HELD).count()}
        return format_html("<pre>{}</pre>", json.dumps(health, indent=2, default=str))

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
