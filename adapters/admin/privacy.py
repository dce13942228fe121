"""Admin of subject access and retention: "Export a person" (a form naming the person; the ZIP of
adapters/privacy/export.py streamed as a download) and the retention runs (read-only: cut-offs and
counts per area; made by beat or ``manage.py apply_retention``)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template import engines
from django.template.backends.django import Template
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html_join

from adapters.models import RetentionRun
from adapters.privacy.export import SubjectExport, subject_is_known
from adapters.privacy.subjects import Subject, SubjectError, subject_for

# Who may export: whoever may already read all of it in the admin (statements, deliveries, links).
# Every kind of record the ZIP holds (adapters.privacy.export): who may not view one may not export it.
EXPORT_PERMISSIONS = (
    "lrs.view_statement",
    "lrs.view_document",
    "adapters.view_delivery",
    "adapters.view_attempt",
    "adapters.view_identitylink",
    "adapters.view_employee",
    "adapters.view_identitychange",
    "adapters.view_skillrecord",
)

# Two small pages, kept here rather than as template files beside the others.
_CHANGE_LIST = """{% extends "admin/change_list.html" %}
{% block object-tools-items %}
  <li><a href="{% url 'admin:adapters_privacy_export' %}">Export a person</a></li>
  {{ block.super }}
{% endblock %}"""
_EXPORT_PAGE = """{% extends "admin/base_site.html" %}
{% block content %}
<p>Every statement naming the person (any role), their state and agent-profile documents, the
delivery records of those statements and their identity records, as a ZIP with a manifest.</p>
<form method="post">{% csrf_token %}
  {{ form.as_p }}
  <input type="submit" value="Export">
</form>
{% endblock %}"""


@cache
def _template(source: str) -> Template:
    return engines["django"].from_string(source)


class SubjectForm(forms.Form):
    """The person a privacy page is about: an xAPI agent or an employee id (export, erasure)."""

    agent = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text='an xAPI agent, e.g. {"mbox": "mailto:a@example.com"}',
    )
    employee_id = forms.CharField(
        required=False, help_text="or an employee id: every identifier linked to it"
    )

    def subject(self) -> Subject:
        agent_text = self.cleaned_data["agent"].strip()
        employee_id = self.cleaned_data["employee_id"].strip()
        try:
            agent = json.loads(agent_text) if agent_text else None
        except ValueError as exc:
            raise forms.ValidationError(f"agent: not JSON ({exc})") from None
        try:
            return subject_for(agent=agent, employee_id=employee_id or None)
        except SubjectError as exc:
            raise forms.ValidationError(str(exc)) from None


class ExportForm(SubjectForm):
    def subject(self) -> Subject:
        subject = super().subject()
        if not subject_is_known(subject):
            raise forms.ValidationError("no statement, document or identity link names this person")
        return subject


def export_response(subject: Subject, *, exported_by: str) -> StreamingHttpResponse:
    """The person's ZIP, streamed as it is written (memory stays at one page whatever its size)."""
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    return StreamingHttpResponse(
        SubjectExport(subject, requested_by=exported_by).chunks(),
        content_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="subject-export-{stamp}.zip"',
            "Cache-Control": "no-store",
        },
    )


@admin.register(RetentionRun)
class RetentionRunAdmin(admin.ModelAdmin):
    list_display = ("started_at", "mode", "statements", "error_shown", "finished_at")
    list_filter = ("mode",)
    readonly_fields = ("started_at", "finished_at", "mode", "cutoff_table", "count_table", "error")
    exclude = ("cutoffs", "counts")

    @property
    def change_list_template(self) -> Template:  # type: ignore[override]
        return _template(_CHANGE_LIST)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="statements deleted or pseudonymised")
    def statements(self, obj: RetentionRun) -> int:
        return obj.counts.get("statements_deleted", 0) + obj.counts.get("statements_pseudonymised", 0)

    @admin.display(description="succeeded", boolean=True)
    def error_shown(self, obj: RetentionRun) -> bool | None:
        return None if obj.finished_at is None else not obj.error

    @admin.display(description="cut-offs")
    def cutoff_table(self, obj: RetentionRun) -> str:
        return format_html_join(
            "\n",
            "<div>{}: {}</div>",
            ((area, cutoff or "kept forever") for area, cutoff in obj.cutoffs.items()),
        )

    @admin.display(description="counts")
    def count_table(self, obj: RetentionRun) -> str:
        return format_html_join("\n", "<div>{}: {}</div>", sorted(obj.counts.items()))

    def get_urls(self) -> list[Any]:
        export = path("export/", self.admin_site.admin_view(self.export), name="adapters_privacy_export")
        return [export, *super().get_urls()]

    def export(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perms(EXPORT_PERMISSIONS):
            return HttpResponse("you may not read all of a person's records", status=403)
        form = ExportForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                subject = form.subject()
            except forms.ValidationError as problem:
                form.add_error(None, problem)
            else:
                return export_response(subject, exported_by=f"admin:{request.user.get_username()}")
        context = {**self.admin_site.each_context(request), "title": "Export a person", "form": form}
        return TemplateResponse(request, _template(_EXPORT_PAGE), context)
