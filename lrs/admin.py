"""Django admin: browse statements (read-only) and manage xAPI credentials.

``statement_panels``: other apps add sections to the statement page (the fan-out adds the
statement's deliveries) without ``lrs`` importing them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from lrs.credentials import scopes as scope_rules
from lrs.credentials.models import Credential
from lrs.credentials.services import key_problem
from lrs.statements.models import Statement
from lrs.xapi.agents import agent_ifi

# (title, render(statement) -> HTML) for each section another app adds to the statement page.
statement_panels: list[tuple[str, Callable[[Statement], SafeString]]] = []
# A secret the admin generated while saving, until the answer to that request shows it.
_generated_secrets: WeakKeyDictionary[HttpRequest, str] = WeakKeyDictionary()


def seconds(value: datetime | None) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def verb_name(payload: dict[str, Any], verb_id: str) -> str:
    """The verb's display name (en first), else the last part of its IRI."""
    display = (payload.get("verb") or {}).get("display") or {}
    for language in ("en-US", "en-GB", "en"):
        if display.get(language):
            return str(display[language])
    if display:
        return str(next(iter(display.values())))
    return verb_id.rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1] or verb_id


class InputFilter(admin.SimpleListFilter):
    """A free-text list filter: statements tables are too large to list every actor or verb."""

    template = "admin/lrs/input_filter.html"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        # One dummy choice so Django renders the filter at all.
        return [("", "")]

    def choices(self, changelist: Any) -> Any:
        all_choice = next(super().choices(changelist))
        all_choice["query_parts"] = (
            (key, value)
            for key, value in changelist.get_filters_params().items()
            if key != self.parameter_name
        )
        yield all_choice


class VerbFilter(InputFilter):
    title = "verb id"
    parameter_name = "verb"

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(verb_id=self.value()) if self.value() else queryset


class ActorFilter(InputFilter):
    title = "actor (email, or IFI such as account::home::name)"
    parameter_name = "actor"

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = (self.value() or "").strip()
        if not value:
            return queryset
        if "::" not in value:
            value = agent_ifi({"mbox": value if value.startswith("mailto:") else f"mailto:{value}"}) or value
        return queryset.filter(agents__agent_ifi=value, agents__direct=True)


class ActivityFilter(InputFilter):
    title = "activity id"
    parameter_name = "activity"

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = (self.value() or "").strip()
        return queryset.filter(activities__activity_id=value) if value else queryset


@admin.register(Statement)
class StatementAdmin(admin.ModelAdmin):
    list_display = ("short_id", "stored_at", "verb", "actor", "object_summary", "voided")
    list_display_links = ("short_id",)
    list_filter = (VerbFilter, ActorFilter, ActivityFilter, "voided", "stored")
    search_fields = ("=statement_id",)
    search_help_text = "A statement id."
    ordering = ("-stored", "-id")
    show_full_result_count = False
    list_per_page = 50
    fields = (
        "statement_id",
        "stored_at",
        "timestamp_at",
        "version",
        "verb",
        "verb_id",
        "actor_ifi",
        "object_summary",
        "registration",
        "voided",
        "credential",
        "deliveries",
        "pretty_payload",
    )
    readonly_fields = fields

    def _payload(self, obj: Statement) -> dict[str, Any]:
        cache = obj.__dict__.setdefault("_parsed_payload", {})
        if not cache:
            cache.update(json.loads(obj.payload))
        return cache

    @admin.display(description="id")
    def short_id(self, obj: Statement) -> SafeString:
        return format_html('<span title="{}">{}</span>', obj.statement_id, str(obj.statement_id)[:8])

    @admin.display(description="stored", ordering="stored")
    def stored_at(self, obj: Statement) -> str:
        return seconds(obj.stored)

    @admin.display(description="timestamp")
    def timestamp_at(self, obj: Statement) -> str:
        return seconds(obj.timestamp)

    @admin.display(description="verb")
    def verb(self, obj: Statement) -> SafeString:
        return format_html(
            '<span title="{}">{}</span>', obj.verb_id, verb_name(self._payload(obj), obj.verb_id)
        )

    @admin.display(description="actor")
    def actor(self, obj: Statement) -> SafeString:
        ifi = obj.actor_ifi or ""
        shown = ifi.removeprefix("mbox::mailto:")
        if len(shown) > 40:
            shown = shown[:39] + "…"
        return format_html('<span title="{}">{}</span>', ifi, shown)

    @admin.display(description="object")
    def object_summary(self, obj: Statement) -> SafeString:
        full = str(
            obj.object_activity_id
            or obj.object_agent_ifi
            or (f"StatementRef {obj.object_statement_id}" if obj.object_statement_id else obj.object_type)
        )
        definition = (self._payload(obj).get("object") or {}).get("definition") or {}
        names = definition.get("name") or {}
        name = names.get("en-US") or names.get("en") or next(iter(names.values()), "") if names else ""
        shown = str(name) or (full if len(full) <= 60 else "…" + full[-59:])
        return format_html('<span title="{}">{}</span>', full, shown)

    @admin.display(description="deliveries")
    def deliveries(self, obj: Statement) -> SafeString:
        if not statement_panels:
            return format_html("{}", "-")
        return format_html_join("", "<div>{}</div>", ((render(obj),) for _title, render in statement_panels))

    @admin.display(description="statement (as stored)")
    def pretty_payload(self, obj: Statement) -> str:
        pretty = json.dumps(json.loads(obj.payload), indent=2, ensure_ascii=False, sort_keys=True)
        return format_html('<pre style="white-space: pre-wrap; font-size: 12px">{}</pre>', pretty)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        # Without the navigation sidebar the columns fit 1400 px (the breadcrumbs lead back).
        return super().changelist_view(request, {"is_nav_sidebar_enabled": False, **(extra_context or {})})

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> Any:
        # Statement ids are UUIDs: an exact match on a malformed one would raise, so ignore it.
        try:
            uuid.UUID(search_term.strip())
        except ValueError:
            return (queryset.none() if search_term.strip() else queryset), False
        return queryset.filter(statement_id=search_term.strip()), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class CredentialForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(scope, scope) for scope in scope_rules.KNOWN_SCOPES],
        widget=forms.CheckboxSelectMultiple,
        help_text=(
            f"{scope_rules.ALL} is every xAPI scope (xAPI Communication 4.2); {scope_rules.IDENTITY_WRITE} "
            f"(the identity API) and {scope_rules.PRIVACY} (the privacy API) are granted by name only."
        ),
    )
    new_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput,
        help_text="Leave empty to keep the current secret (or to generate one for a new credential).",
    )

    class Meta:
        model = Credential
        fields = ("name", "key", "scopes", "is_active", "expires_at")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["key"].required = False

    def clean_key(self) -> str:
        """A new or changed key must be one HTTP Basic can carry; a credential's unchanged key,
        saved before the rule, is left alone so the credential can still be switched off."""
        key = self.cleaned_data.get("key") or ""
        unchanged = self.instance.pk is not None and key == self.instance.key
        if key and not unchanged and (problem := key_problem(key)):
            raise forms.ValidationError(problem)
        return key


@admin.register(Credential)
class CredentialAdmin(admin.ModelAdmin):
    form = CredentialForm
    list_display = ("name", "key", "scope_list", "is_active", "expires_at", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "key")

    @admin.display(description="scopes")
    def scope_list(self, obj: Credential) -> str:
        return ", ".join(obj.scopes)

    def save_model(self, request: HttpRequest, obj: Credential, form: Any, change: bool) -> None:
        if not obj.key:
            obj.key = Credential.generate_key()
        secret = form.cleaned_data.get("new_secret")
        generated = None
        if secret:
            obj.set_secret(secret)
        elif not change:
            generated = Credential.generate_secret()
            obj.set_secret(generated)
        super().save_model(request, obj, form, change)
        if generated:
            _generated_secrets[request] = generated  # shown once by response_add

    def response_add(
        self, request: HttpRequest, obj: Credential, post_url_continue: str | None = None
    ) -> HttpResponse:
        """A generated secret is shown once, in the answer to the add itself, with a link on to
        where saving leads (the list, the credential, another add). Only its digest is stored; and
        not as a message: Django's default message storage keeps messages in a cookie (signed, not
        encrypted), where the secret would travel with each request and rest in the browser
        (https://docs.djangoproject.com/en/stable/ref/contrib/messages/#storage-backends)."""
        response = super().response_add(request, obj, post_url_continue)
        secret = _generated_secrets.pop(request, None)
        if secret is None:
            return response
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Secret of {obj}",
            "credential": obj,
            "secret": secret,
            "continue_url": response.url if isinstance(response, HttpResponseRedirect) else "",
        }
        shown = TemplateResponse(request, "admin/lrs/credential/secret_shown.html", context)
        add_never_cache_headers(shown)  # no-store: the page is not kept by the browser or a proxy
        return shown
