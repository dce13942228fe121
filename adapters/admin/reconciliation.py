"""Reconciliation runs (the figures, the day buckets, the mismatches linked to their statements
and deliveries) and alerts (their state and every message sent); read-only: runs are made by
``manage.py reconcile``, beat, or the targets' action, alerts by beat."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from adapters.models import Alert, ReconciliationRun


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(admin.ModelAdmin):
    list_display = (
        "target",
        "since",
        "until",
        "read_back",
        "drift",
        "success_percent",
        "repair",
        "finished_at",
    )
    list_filter = ("target", "read_back", "repair")
    readonly_fields = (
        "target",
        "since",
        "until",
        "read_back",
        "repair",
        "counts",
        "drift_percent",
        "success_percent",
        "bucket_table",
        "mismatch_table",
        "error",
        "started_at",
        "finished_at",
    )
    exclude = ("buckets", "mismatches")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="drift %", ordering="drift_percent")
    def drift(self, obj: ReconciliationRun) -> str:
        return "error" if obj.error else f"{obj.drift_percent:.3f}" if obj.drift_percent is not None else "-"

    @admin.display(description="days")
    def bucket_table(self, obj: ReconciliationRun) -> str:
        return format_html_join(
            "\n",
            "<div>{}: expected {}, {} {} {}</div>",
            (
                (
                    b["day"],
                    b["expected"],
                    "found" if "found" in b else "delivered",
                    b.get("found", b.get("delivered")),
                    "" if b["match"] else "MISMATCH",
                )
                for b in obj.buckets
            ),
        )

    @admin.display(description="mismatches (the first 1,000)")
    def mismatch_table(self, obj: ReconciliationRun) -> str:
        rows = []
        for mismatch in obj.mismatches:
            delivery = mismatch.get("delivery_id")
            link = (
                format_html(
                    ' <a href="{}">delivery {}</a>',
                    reverse("admin:adapters_delivery_change", args=[delivery]),
                    delivery,
                )
                if delivery
                else ""
            )
            statement = format_html(
                '<a href="{}?q={}">{}</a>',
                reverse("admin:lrs_statement_changelist"),
                mismatch["key"],
                mismatch["key"],
            )
            rows.append(format_html("<div>{} {}{}</div>", mismatch["kind"], statement, link))
        return format_html_join("\n", "{}", ((row,) for row in rows))


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = (
        "rule",
        "target",
        "raised",
        "value",
        "threshold",
        "raised_at",
        "cleared_at",
        "evaluated_at",
    )
    list_filter = ("raised", "rule", "target")
    readonly_fields = [field.name for field in Alert._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
