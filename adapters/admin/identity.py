"""Admin of the identity map: links, CSV import, the held-delivery conflict report."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from adapters.identity.holds import identity_conflicts
from adapters.identity.links import (
    Identifiers,
    IdentityInputError,
    identity_links_import_csv,
    identity_links_upsert,
)
from adapters.models import IdentityLink


class IdentityLinkForm(forms.ModelForm):
    class Meta:
        model = IdentityLink
        fields = ("employee_id", "kind", "value")
        widgets = {
            "kind": forms.Select(
                choices=[
                    ("email", "email"),
                    ("account", "account (homePage name)"),
                    ("openid", "openid"),
                    ("mbox_sha1sum", "mbox_sha1sum"),
                ]
            )
        }


class CsvImportForm(forms.Form):
    file = forms.FileField(help_text="employee_id,email,account_homepage,account_name,openid,mbox_sha1sum")


@admin.register(IdentityLink)
class IdentityLinkAdmin(admin.ModelAdmin):
    form = IdentityLinkForm
    list_display = ("employee_id", "kind", "value", "source", "created_at")
    list_filter = ("kind", "source")
    search_fields = ("employee_id", "value")
    change_list_template = "admin/adapters/identitylink/change_list.html"

    def get_urls(self) -> list[Any]:
        extra = [
            path("import/", self.admin_site.admin_view(self.import_csv), name="adapters_identitylink_import"),
            path("held/", self.admin_site.admin_view(self.held_report), name="adapters_identitylink_held"),
        ]
        return extra + super().get_urls()

    def save_model(self, request: HttpRequest, obj: IdentityLink, form: Any, change: bool) -> None:
        # Through the service, so the value is normalised and held deliveries are released.
        identifiers = Identifiers()
        if obj.kind == "email":
            identifiers.emails = [obj.value]
        elif obj.kind == "account":
            home, _, name = obj.value.partition(" ")
            identifiers.accounts = [{"homePage": home, "name": name}]
        elif obj.kind == "openid":
            identifiers.openids = [obj.value]
        else:
            identifiers.mbox_sha1sums = [obj.value]
        try:
            identity_links_upsert(employee_id=obj.employee_id, identifiers=identifiers, source="admin")
        except IdentityInputError as exc:
            messages.error(request, str(exc))
            return
        if change:
            obj.delete()

    def import_csv(self, request: HttpRequest) -> HttpResponse:
        form = CsvImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                counts = identity_links_import_csv(form.cleaned_data["file"].read().decode("utf-8-sig"))
            except (IdentityInputError, UnicodeDecodeError) as exc:
                form.add_error("file", str(exc))
            else:
                messages.success(
                    request, f"imported {counts['rows']} rows, {counts['links_created']} new links"
                )
                return HttpResponseRedirect(reverse("admin:adapters_identitylink_changelist"))
        context = {**self.admin_site.each_context(request), "form": form, "title": "Import identity links"}
        return TemplateResponse(request, "admin/adapters/identitylink/import.html", context)

    def held_report(self, request: HttpRequest) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "groups": identity_conflicts(),
            "title": "Deliveries held for identity",
        }
        return TemplateResponse(request, "admin/adapters/identitylink/held.html", context)
