"""Django admin: targets with their health, deliveries with their attempts, retry/replay/cancel."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from adapters import dispatch
from adapters.models import Attempt, Delivery, OutboxBatch, Target
from adapters.registry import adapter_names
from adapters.selectors import target_health
from adapters.services_replay import deliveries_cancel, deliveries_replay


class TargetForm(forms.ModelForm):
    adapter = forms.ChoiceField(choices=[])

    class Meta:
        model = Target
        fields = ("name", "adapter", "enabled", "config", "filter", "rate_limit_per_second", "max_attempts")
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
    actions = ["replay_dead", "resume"]

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
        total = sum(len(deliveries_replay(target=target)) for target in queryset)
        self.message_user(request, f"replaying {total} deliveries")

    @admin.action(description="Resume paused targets now")
    def resume(self, request: HttpRequest, queryset: QuerySet) -> None:
        queryset.update(paused_until=None, consecutive_failures=0)
        self.message_user(request, "resumed")


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    can_delete = False
    fields = ("number", "started_at", "duration_ms", "status_code", "outcome", "error", "response_excerpt")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "target",
        "kind",
        "statement_uuid",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "created_at",
        "delivered_at",
    )
    list_filter = ("status", "kind", "target")
    search_fields = ("=correlation_id",)
    search_help_text = "A statement id, an idempotency key (statement id:target:kind) or a correlation id."
    list_select_related = ("target",)
    ordering = ("-id",)
    show_full_result_count = False
    inlines = [AttemptInline]
    actions = ["retry_now", "replay", "cancel"]
    readonly_fields = [field.name for field in Delivery._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        # A statement id or idempotency key is looked up through the statement's unique id and
        # the (statement, target, kind) index: deliveries carry no index of their own on either.
        statement_part, _, rest = search_term.strip().partition(":")
        try:
            statement_uuid = uuid.UUID(statement_part)
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        found = queryset.filter(statement__statement_id=statement_uuid)
        if rest:
            found = found.filter(idempotency_key=search_term.strip())
        return found, False

    @admin.action(description="Retry now (pending / retrying)")
    def retry_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        ids = list(
            queryset.filter(status__in=[Delivery.PENDING, Delivery.RETRYING]).values_list("id", flat=True)
        )
        Delivery.objects.filter(id__in=ids).update(next_attempt_at=timezone.now())
        dispatch.after_commit(ids)
        self.message_user(request, f"retrying {len(ids)} deliveries")

    @admin.action(description="Replay (dead / cancelled)")
    def replay(self, request: HttpRequest, queryset: QuerySet) -> None:
        ids = deliveries_replay(delivery_ids=queryset.values_list("id", flat=True))
        self.message_user(request, f"replaying {len(ids)} deliveries")

    @admin.action(description="Cancel (pending / retrying)")
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = deliveries_cancel(delivery_ids=queryset.values_list("id", flat=True))
        self.message_user(
            request, f"cancelled {count} deliveries", level=messages.WARNING if not count else None
        )


@admin.register(OutboxBatch)
class OutboxBatchAdmin(admin.ModelAdmin):
    """Stored batches whose deliveries no worker has written yet. Normally empty or nearly so:
    a long list means no worker is taking ``dispatch_batch`` messages (the sweep expands a batch
    left over 60 s)."""

    list_display = ("id", "statement_count", "target_ids", "created_at", "dispatched_at")
    ordering = ("id",)
    actions = ["expand_now"]
    readonly_fields = [field.name for field in OutboxBatch._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="statements")
    def statement_count(self, obj: OutboxBatch) -> int:
        return len(obj.statement_pks)

    @admin.action(description="Write and queue their deliveries now")
    def expand_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        queued = dispatch.expand_and_queue(list(queryset.values_list("id", flat=True)))
        self.message_user(request, f"queued {queued} deliveries")


from adapters import admin_identity  # noqa: E402, F401  (registers identity and competency admin)
