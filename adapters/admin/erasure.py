"""Admin of erasures: the requests made (read-only: counts, targets, status) and "Erase a person":
a form naming the person, a confirmation page with what would be erased (a dry run), then the
erasure (adapters/privacy/erasure.py)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from adapters.admin.privacy import SubjectForm
from adapters.models import ErasureRequest
from adapters.privacy.erasure import MODES, ErasureOutcome, erase_subject


class EraseForm(SubjectForm):
    mode = forms.ChoiceField(
        choices=[(mode, mode) for mode in MODES],
        help_text="delete the person's own statements, or keep them under a pseudonym",
    )


@admin.register(ErasureRequest)
class ErasureRequestAdmin(admin.ModelAdmin):
    list_display = ("requested_at", "requested_by", "mode", "status", "finished_at", "statements")
    list_filter = ("mode", "status")
    readonly_fields = ("requested_at", "requested_by", "mode", "status", "finished_at", "counts", "targets")
    exclude = ("subject_hash", "statement_pks", "other_statement_pks", "identifiers")
    change_list_template = "admin/adapters/erasurerequest/change_list.html"

    @admin.display(description="statements (own / others)")
    def statements(self, obj: ErasureRequest) -> str:
        return f"{obj.counts.get('own_statements', 0)} / {obj.counts.get('other_statements', 0)}"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[Any]:
        erase = path("erase/", self.admin_site.admin_view(self.erase), name="adapters_erasurerequest_erase")
        return [erase, *super().get_urls()]

    def erase(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_superuser:  # erasure cannot be undone: superusers only
            messages.error(request, "only a superuser may erase a person")
            return HttpResponseRedirect(reverse("admin:adapters_erasurerequest_changelist"))
        form = EraseForm(request.POST or None)
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": "Erase a person",
            "form": form,
        }
        if request.method == "POST" and form.is_valid():
            try:
                subject = form.subject()
            except forms.ValidationError as problem:
                form.add_error(None, problem)
            else:
                if request.POST.get("confirmed") != "yes":  # show what would go, ask again
                    context["plan"] = erase_subject(
                        subject, mode=form.cleaned_data["mode"], requested_by="", dry_run=True
                    )
                    return TemplateResponse(request, "admin/adapters/erasurerequest/erase.html", context)
                result = erase_subject(
                    subject,
                    mode=form.cleaned_data["mode"],
                    requested_by=f"admin:{request.user.get_username()}",
                )
                assert isinstance(result, ErasureOutcome)
                note = "an earlier erasure already did this" if result.repeated else "erased"
                messages.success(request, f"{note}: request #{result.request.pk}, {result.request.counts}")
                return HttpResponseRedirect(
                    reverse("admin:adapters_erasurerequest_change", args=[result.request.pk])
                )
        return TemplateResponse(request, "admin/adapters/erasurerequest/erase.html", context)
