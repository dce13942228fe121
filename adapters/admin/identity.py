"""Admin of the identity map: links (added, unlinked and moved through the identity services, so
each change is in the history), CSV import, the held-delivery conflict report, employees as the
HRIS feed describes them, and the read-only identity history."""

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
    checked_employee_id,
    identity_links_import_csv,
    identity_links_move,
    identity_links_remove,
    identity_links_upsert,
    links_for,
)
from adapters.models import Employee, IdentityChange, IdentityLink


class IdentityLinkForm(forms.ModelForm):
    """Checked here as the identity service checks it (``links_for``), so that a refusal is a form
    error on its field: left to the save, it was a message beside Django's "was added
    successfully" (nothing was), and an unknown kind passed the select (a widget only) to be
    reported as an mbox_sha1sum's error."""

    kind = forms.ChoiceField(
        choices=[
            ("email", "email"),
            ("account", "account (homePage name)"),
            ("openid", "openid"),
            ("mbox_sha1sum", "mbox_sha1sum"),
        ]
    )

    class Meta:
        model = IdentityLink
        fields = ("employee_id", "kind", "value")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            employee_id = checked_employee_id(cleaned["employee_id"])
            link = IdentityLink(employee_id=employee_id, kind=cleaned["kind"], value=cleaned["value"])
            links_for(employee_id, identifiers_of(link), "admin")
        except IdentityInputError as exc:
            field = "employee_id" if str(exc).startswith("employee_id") else "value"
            self.add_error(field, str(exc))
        return cleaned


class CsvImportForm(forms.Form):
    file = forms.FileField(
        help_text="employee_id,email,account_homepage,account_name,openid,mbox_sha1sum; optional "
        "action (add, remove, move) and from_employee_id"
    )


class MoveForm(forms.Form):
    to_employee_id = forms.CharField(max_length=200, help_text="the employee the identifiers belong to")


def who(request: HttpRequest) -> str:
    return f"admin:{request.user.get_username()}"


def identifiers_of(link: IdentityLink) -> Identifiers:
    identifiers = Identifiers()
    if link.kind == "email":
        identifiers.emails = [link.value]
    elif link.kind == "account":
        home, _, name = link.value.partition(" ")
        identifiers.accounts = [{"homePage": home, "name": name}]
    elif link.kind == "openid":
        identifiers.openids = [link.value]
    else:
        identifiers.mbox_sha1sums = [link.value]
    return identifiers


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

    actions = ["move_to_employee"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a link is added, unlinked or moved (each recorded), never edited in place

    def save_model(self, request: HttpRequest, obj: IdentityLink, form: Any, change: bool) -> None:
        try:
            identity_links_upsert(
                employee_id=obj.employee_id,
                identifiers=identifiers_of(obj),
                source="admin",
                changed_by=who(request),
            )
        except IdentityInputError as exc:
            messages.error(request, str(exc))

    def delete_model(self, request: HttpRequest, obj: IdentityLink) -> None:
        self._unlink(request, [obj])

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        self._unlink(request, list(queryset))

    def _unlink(self, request: HttpRequest, links: list[IdentityLink]) -> None:
        reported = 0
        for link in links:
            for removed in identity_links_remove(
                employee_id=link.employee_id,
                identifiers=identifiers_of(link),
                source="admin",
                changed_by=who(request),
            ):
                reported += len(removed.delivered_under_previous)
        if reported:
            messages.warning(
                request,
                f"{reported} deliveries were made under the removed mapping; they are listed in the "
                "identity history and were not changed (reconcile to decide)",
            )

    @admin.action(description="Move to another employee")
    def move_to_employee(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        form = MoveForm(request.POST if "to_employee_id" in request.POST else None)
        if form.is_valid():
            moved = reported = 0
            for link in queryset:
                try:
                    for item in identity_links_move(
                        identifiers=identifiers_of(link),
                        from_employee_id=link.employee_id,
                        to_employee_id=form.cleaned_data["to_employee_id"],
                        source="admin",
                        changed_by=who(request),
                    ):
                        moved += 1
                        reported += len(item.delivered_under_previous)
                except IdentityInputError as exc:
                    messages.error(request, f"{link}: {exc}")
            messages.success(
                request,
                f"moved {moved} identifiers to {form.cleaned_data['to_employee_id']}; {reported} deliveries "
                "made under the old mapping are listed in the identity history",
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Move identifiers to another employee",
            "form": form,
            "links": list(queryset),
            "action": "move_to_employee",
        }
        return TemplateResponse(request, "admin/adapters/identitylink/move.html", context)

    def import_csv(self, request: HttpRequest) -> HttpResponse:
        form = CsvImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                counts = identity_links_import_csv(
                    form.cleaned_data["file"].read().decode("utf-8-sig"), changed_by=who(request)
                )
            except (IdentityInputError, UnicodeDecodeError) as exc:
                form.add_error("file", str(exc))
            else:
                messages.success(
                    request,
                    f"imported {counts['rows']} rows: {counts['links_created']} new links, "
                    f"{counts['links_removed']} removed, {counts['links_moved']} moved",
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


@admin.register(Employee)
class EmployeeAdmin(admin.ModelAdmin):
    """Employees as the HRIS feed describes them (``manage.py import_hris``); read-only here, so
    the HRIS stays the one source and every change is in the identity history."""

    list_display = ("employee_id", "status", "terminated_on", "manager_id", "department", "updated_at")
    list_filter = ("status", "department")
    search_fields = ("employee_id", "manager_id")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(IdentityChange)
class IdentityChangeAdmin(admin.ModelAdmin):
    """The append-only identity history: who changed which link or employee, when, from where."""

    list_display = ("at", "employee_id", "action", "identifier", "source", "changed_by", "reported")
    list_filter = ("action", "source")
    search_fields = ("employee_id", "identifier", "changed_by")
    date_hierarchy = "at"

    @admin.display(description="deliveries made under the old mapping")
    def reported(self, obj: IdentityChange) -> int:
        return len(obj.delivered_under_previous or [])

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
