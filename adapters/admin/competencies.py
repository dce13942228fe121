"""Admin of the versioned activity -> competency mappings (one active version)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from adapters.models import CompetencyMapping
from adapters.rules.competencies import CompetencyMapping as CompetencyRules


class CompetencyMappingForm(forms.ModelForm):
    class Meta:
        model = CompetencyMapping
        fields = ("version", "rules", "is_active")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        try:
            CompetencyRules.from_json(
                {"version": data.get("version") or "", "rules": data.get("rules") or []}
            )
        except ValueError as exc:
            raise ValidationError({"rules": str(exc)}) from None
        return data


@admin.register(CompetencyMapping)
class CompetencyMappingAdmin(admin.ModelAdmin):
    form = CompetencyMappingForm
    list_display = ("version", "is_active", "created_at")

    def save_model(self, request: HttpRequest, obj: CompetencyMapping, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if obj.is_active:
            CompetencyMapping.objects.exclude(pk=obj.pk).update(is_active=False)
