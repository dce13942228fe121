"""Admin of deliveries (with their attempts; retry, replay, cancel), of attempts (the request sent,
redacted, and the answer) and of outbox batches: all read-only audit records, never deleted here.
The statement page lists a statement's deliveries through ``lrs.admin.statement_panels``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from adapters.delivery import queue
from adapters.delivery.outbox import expand_and_queue
from adapters.delivery.replay import deliveries_cancel, deliveries_replay, deliveries_resolve_unknown
from adapters.identity.holds import deliveries_release
from adapters.models import Attempt, Delivery, OutboxBatch
from lrs.admin import statement_panels
from lrs.statements.models import Statement


def seconds(value: datetime | None) -> str:
    """A time to the second, in the admin's time zone."""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def short_id(value: Any) -> SafeString:
    """The first 8 characters of an id, the whole id on hover."""
    return format_html('<span class="short-id" title="{}">{}</span>', value, str(value)[:8])


def delivery_label(delivery: Delivery) -> str:
    return f"{delivery.kind} {str(delivery.statement_uuid)[:8]} to {delivery.target.name}"


def pre(text: str) -> SafeString:
    return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', text or "-")


class WideList(admin.ModelAdmin):
    """A list without the navigation sidebar, so its columns fit 1400 px without scrolling
    sideways (the breadcrumbs lead back)."""

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        return super().changelist_view(request, {"is_nav_sidebar_enabled": False, **(extra_context or {})})


class ReadOnly(WideList):
    """An audit record: viewed, acted on through actions, never edited, added or deleted."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def label(self, obj: Any) -> str:
        return str(obj)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        obj = self.get_object(request, object_id)
        extra = {"subtitle": self.label(obj)} if obj is not None else {}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    can_delete = False
    fields = ("attempt", "started", "duration_ms", "status_code", "outcome", "short_error")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="attempt")
    def attempt(self, obj: Attempt) -> SafeString:
        url = reverse("admin:adapters_attempt_change", args=[obj.pk])
        return format_html('<a href="{}">attempt {} (request, answer)</a>', url, obj.number)

    @admin.display(description="started")
    def started(self, obj: Attempt) -> str:
        return seconds(obj.started_at)

    @admin.display(description="error")
    def short_error(self, obj: Attempt) -> str:
        return obj.error[:160]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnly):
    change_form_template = "admin/adapters/audit_change_form.html"  # named, not by id
    list_display = (
        "delivery",
        "target_name",
        "kind",
        "statement_short",
        "status",
        "attempts",
        "next_attempt",
        "last_status_code",
        "created",
        "delivered",
    )
    list_display_links = ("delivery",)
    list_filter = ("status", "kind", "target")
    search_fields = ("=correlation_id",)
    search_help_text = "A statement id, an idempotency key (statement id:target:kind) or a correlation id."
    list_select_related = ("target",)
    ordering = ("-id",)
    show_full_result_count = False
    inlines = [AttemptInline]
    actions = ["retry_now", "replay", "cancel", "mark_delivered", "send_again", "release_held"]
    fields = (
        "target_link",
        "statement_link",
        "kind",
        "status",
        "attempts",
        "next_attempt",
        "last_status_code",
        "last_error",
        "held_key",
        "external_id",
        "maybe_applied",
        "depends_on",
        "idempotency_key",
        "correlation_id",
        "created",
        "updated",
        "delivered",
    )
    readonly_fields = fields

    def label(self, obj: Delivery) -> str:
        return delivery_label(obj)

    @admin.display(description="delivery", ordering="id")
    def delivery(self, obj: Delivery) -> str:
        return f"#{obj.pk}"

    @admin.display(description="target", ordering="target__name")
    def target_name(self, obj: Delivery) -> str:
        return obj.target.name

    @admin.display(description="target")
    def target_link(self, obj: Delivery) -> SafeString:
        url = reverse("admin:adapters_target_change", args=[obj.target_id])
        return format_html('<a href="{}">{}</a>', url, obj.target.name)

    @admin.display(description="statement")
    def statement_short(self, obj: Delivery) -> SafeString:
        return short_id(obj.statement_uuid)

    @admin.display(description="statement")
    def statement_link(self, obj: Delivery) -> SafeString:
        url = reverse("admin:lrs_statement_change", args=[obj.statement_id])
        return format_html('<a href="{}">{}</a>', url, obj.statement_uuid)

    @admin.display(description="next attempt", ordering="next_attempt_at")
    def next_attempt(self, obj: Delivery) -> str:
        return seconds(obj.next_attempt_at) if obj.status in Delivery.OPEN else "-"

    @admin.display(description="created", ordering="created_at")
    def created(self, obj: Delivery) -> str:
        return seconds(obj.created_at)

    @admin.display(description="updated")
    def updated(self, obj: Delivery) -> str:
        return seconds(obj.updated_at)

    @admin.display(description="delivered", ordering="delivered_at")
    def delivered(self, obj: Delivery) -> str:
        return seconds(obj.delivered_at)

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

    @admin.action(description="Cancel (pending / retrying / held; dead: give up, the target keeps it)")
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = deliveries_cancel(delivery_ids=queryset.values_list("id", flat=True))
        self.message_user(
            request, f"cancelled {count} deliveries", level=messages.WARNING if not count else messages.INFO
        )


@admin.register(Attempt)
class AttemptAdmin(ReadOnly):
    """One try of a delivery: what was sent (recorded for failed attempts, secrets redacted) and
    what came back."""

    change_form_template = "admin/adapters/audit_change_form.html"  # named, not by id

    list_display = ("attempt", "target_name", "outcome", "status_code", "started", "duration_ms")
    list_filter = ("outcome",)
    list_select_related = ("delivery__target",)
    ordering = ("-id",)
    show_full_result_count = False
    fields = (
        "delivery_link",
        "number",
        "outcome",
        "status_code",
        "started",
        "duration_ms",
        "error",
        "sent",
        "answer",
    )
    readonly_fields = fields

    def label(self, obj: Attempt) -> str:
        return f"attempt {obj.number} of {delivery_label(obj.delivery)}"

    @admin.display(description="attempt", ordering="id")
    def attempt(self, obj: Attempt) -> str:
        return self.label(obj)

    @admin.display(description="target")
    def target_name(self, obj: Attempt) -> str:
        return obj.delivery.target.name

    @admin.display(description="delivery")
    def delivery_link(self, obj: Attempt) -> SafeString:
        url = reverse("admin:adapters_delivery_change", args=[obj.delivery_id])
        return format_html('<a href="{}">{}</a> ({})', url, delivery_label(obj.delivery), obj.delivery.status)

    @admin.display(description="started", ordering="started_at")
    def started(self, obj: Attempt) -> str:
        return seconds(obj.started_at)

    @admin.display(description="request sent (secrets redacted)")
    def sent(self, obj: Attempt) -> SafeString:
        if obj.request:
            return pre(obj.request)
        if obj.outcome == Attempt.SUCCESS:
            return format_html("<i>{}</i>", "not recorded for a successful attempt")
        return format_html("<i>{}</i>", "not recorded (nothing was sent, or the attempt predates recording)")

    @admin.display(description="response excerpt")
    def answer(self, obj: Attempt) -> SafeString:
        return pre(obj.response_excerpt)


def statement_deliveries(statement: Statement) -> SafeString:
    """The statement page's panel: its deliveries, each linked, with its state."""
    rows = Delivery.objects.filter(statement_id=statement.pk).select_related("target").order_by("id")
    listing = reverse("admin:adapters_delivery_changelist") + f"?q={statement.statement_id}"
    lines = format_html_join(
        "",
        '<tr><td><a href="{}">{}</a></td><td>{}</td><td><b>{}</b></td><td>{}</td><td>{}</td><td>{}</td></tr>',
        (
            (
                reverse("admin:adapters_delivery_change", args=[row.pk]),
                row.target.name,
                row.kind,
                row.get_status_display(),
                row.attempts,
                seconds(row.delivered_at),
                row.last_error[:100],
            )
            for row in rows
        ),
    )
    if not lines:
        return format_html("{}", "none (no enabled target takes it, or not expanded yet)")
    return format_html(
        '<table class="statement-deliveries"><tr><th>target</th><th>kind</th><th>status</th>'
        "<th>attempts</th><th>delivered</th><th>last error</th></tr>{}</table>"
        '<p><a href="{}">in the delivery list</a></p>',
        lines,
        listing,
    )


statement_panels.append(("deliveries", statement_deliveries))


@admin.register(OutboxBatch)
class OutboxBatchAdmin(ReadOnly):
    """Stored batches whose deliveries no worker has written yet. Normally empty or nearly so:
    a long list means no worker is taking ``dispatch_batch`` messages (the sweep expands a batch
    left over 60 s)."""

    list_display = ("id", "statement_count", "target_ids", "created", "dispatched")
    ordering = ("id",)
    actions = ["expand_now"]
    fields = ("id", "statement_count", "target_ids", "correlation_id", "created", "dispatched")
    readonly_fields = fields

    @admin.display(description="created", ordering="created_at")
    def created(self, obj: OutboxBatch) -> str:
        return seconds(obj.created_at)

    @admin.display(description="dispatched")
    def dispatched(self, obj: OutboxBatch) -> str:
        return seconds(obj.dispatched_at)

    @admin.display(description="statements")
    def statement_count(self, obj: OutboxBatch) -> int:
        return len(obj.statement_pks)

    @admin.action(description="Write and queue their deliveries now")
    def expand_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        queued = expand_and_queue(list(queryset.values_list("id", flat=True)))
        self.message_user(request, f"queued {queued} deliveries")
