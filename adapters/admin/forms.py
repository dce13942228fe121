"""The target form: the configuration as indented JSON with its adapter's fields explained next to
it, every problem reported at once (each with its path), and secrets that cannot be read here
refused at save (``adapters.targets.checks`` finds them, as ``manage.py check`` does)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from adapters.models import Target
from adapters.registry import UnknownAdapter, adapter_class, adapter_names
from adapters.targets.checks import config_errors, missing_secrets
from lrs.xapi import json_limits
from lrs.xapi.errors import XAPIValidationError
from lrs.xapi.json_types import parse_json as strict_json


def _kind(prop: dict[str, Any]) -> str:
    if prop.get("secret"):
        return 'secret: {"env": "VAR"} or {"file": "/path"}'
    if "enum" in prop:
        return " | ".join(json.dumps(value) for value in prop["enum"])
    return str(prop.get("type", ""))


def adapter_help(name: str, *, open_: bool = False) -> SafeString:
    """One adapter's configuration fields: name, required or not, kind and description."""
    try:
        cls = adapter_class(name)
    except UnknownAdapter:
        return format_html("{}", "")
    schema = cls.config_schema
    required = set(schema.get("required") or [])
    rows = format_html_join(
        "",
        "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (field, " *" if field in required else "", _kind(prop), prop.get("description", ""))
            for field, prop in (schema.get("properties") or {}).items()
        ),
    )
    return format_html(
        '<details class="adapter-help" data-adapter="{}"{}><summary><b>{}</b>: {}</summary>'
        "<table><tr><th>field (* required)</th><th>kind</th><th>meaning</th></tr>{}</table></details>",
        name,
        " open" if open_ else "",
        name,
        cls.description,
        rows,
    )


class IndentedJSONField(forms.JSONField):
    """Shown indented, so a configuration reads (and diffs) line by line; read as the xAPI
    resources read JSON (lrs.xapi.json_types.parse_json): nesting within LRS_MAX_JSON_DEPTH
    (deeper was a RecursionError, a 500), no lone surrogate escape (a 500 when saved), no property
    twice (the last was kept silently), each refused naming the rule."""

    def _refusal(self, value: Any) -> XAPIValidationError | None:
        if not isinstance(value, str) or value in self.empty_values or self.disabled:
            return None
        json_limits.max_depth_set(settings.LRS_MAX_JSON_DEPTH)
        try:
            strict_json(value, path=self.label or "value")
        except XAPIValidationError as exc:
            return exc
        return None

    def to_python(self, value: Any) -> Any:
        if (refused := self._refusal(value)) is not None:
            raise forms.ValidationError(f"{refused.describe()} (rule {refused.rule})", code="invalid")
        return super().to_python(value)

    def bound_data(self, data: Any, initial: Any) -> Any:
        """A refused text is shown again as typed (Django would parse it again to show it)."""
        if self._refusal(data) is not None:
            return forms.fields.InvalidJSONInput(data)
        return super().bound_data(data, initial)

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, cls=self.encoder)


class TargetForm(forms.ModelForm):
    adapter = forms.ChoiceField(choices=[])
    config = IndentedJSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 14, "cols": 80, "style": "font-family: monospace"}),
    )
    filter = IndentedJSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80, "style": "font-family: monospace"}),
        help_text=Target._meta.get_field("filter").help_text,
    )

    class Meta:
        model = Target
        fields = (
            "name",
            "adapter",
            "enabled",
            "receives",
            "config",
            "filter",
            "rate_limit_per_second",
            "concurrency",
            "max_attempts",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = adapter_names()
        self.fields["adapter"].choices = [(name, name) for name in names]
        current = self.instance.adapter if self.instance.pk else ""
        self.fields["config"].help_text = format_html(
            "Secrets as references only, e.g. <code>{}</code>; the variable must be set (or the file "
            "readable) for web and workers.{}",
            '"secret": {"env": "WEBHOOK_SECRET"}',
            format_html_join("", "{}", ((adapter_help(name, open_=name == current),) for name in names)),
        )
        self._config_problems: list[str] = []

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        adapter, config = cleaned.get("adapter"), cleaned.get("config")
        if adapter and "config" in cleaned:
            problems = config_errors(adapter, config if config is not None else {})
            self._config_problems = problems or missing_secrets(adapter, config)
            if self._config_problems:
                self.add_error("config", self._config_problems)
        return cleaned

    def _post_clean(self) -> None:
        super()._post_clean()
        if self._config_problems:
            # The model's own check reports only the first problem again: keep the full list.
            self._errors["config"] = self.error_class(self._config_problems)
