"""Admin of deliveries (with their attempts; retry, replay, cancel) and of outbox batches."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from adapters.delivery import queue
from adapters.delivery.outbox import expand_and_queue
from adapters.delivery.replay import deliveries_cancel, deliveries_replay, deliveries_resolve_unknown
from adapters.identity.holds import deliveries_release
from adapters.models import Attempt, Delivery, OutboxBatch


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
    actions = ["retry_now", "replay", "cancel", "mark_delivered", "send_again", "release_held"]
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
        queue.after_commit(ids)
        self.message_user(request, f"retrying {len(ids)} deliveries")

    @admin.action(description="Release held (resolve the identity again; e.g. after a re-hire)")
    def release_held(self, request: HttpRequest, queryset: QuerySet) -> None:
        ids = list(queryset.filter(status=Delivery.HELD).values_list("id", flat=True))
        released = deliveries_release(ids=ids) if ids else []
        self.message_user(request, f"released {len(released)} held deliveries")

    @admin.action(description="Replay (dead / cancelled)")
    def replay(self, request: HttpRequest, queryset: QuerySet) -> None:
        outcome = deliveries_replay(delivery_ids=queryset.values_list("id", flat=True))
        self.message_user(request, f"replaying {len(outcome.replayed)} deliveries")
        for delivery_id, reason in outcome.refused[:20]:
            self.message_user(request, f"delivery {delivery_id} refused: {reason}", level=messages.WARNING)

    @admin.action(description="Outcome unknown: mark delivered (seen at the target)")
    def mark_delivered(self, request: HttpRequest, queryset: QuerySet) -> None:
        ids = deliveries_resolve_unknown(delivery_ids=queryset.values_list("id", flat=True), delivered=True)
        self.message_user(request, f"marked {len(ids)} deliveries delivered")

    @admin.action(description="Outcome unknown: send again")
    def send_again(self, request: HttpRequest, queryset: QuerySet) -> None:
        ids = deliveries_resolve_unknown(delivery_ids=queryset.values_list("id", flat=True), delivered=False)
        self.message_user(request, f"sending {len(ids)} deliveries again")

    @admin.action(description="Cancel (pending / retrying / held)")
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = deliveries_cancel(delivery_ids=queryset.values_list("id", flat=True))
        self.message_user(
            request, f"cancelled {count} deliveries", level=messages.WARNING if not count else messages.INFO
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
        queued = expand_and_queue(list(queryset.values_list("id", flat=True)))
        self.message_user(request, f"queued {queued} deliveries")
