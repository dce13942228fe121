"""The explicit adapter registry: name -> dotted path, imported only when used.

Third-party packages add adapters without touching this code through the
``lrs.adapters`` entry-point group, e.g. in their pyproject.toml::

    [project.entry-points."lrs.adapters"]
    crm = "acme_lrs_crm.adapter:CrmAdapter"
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points
from typing import Any

from django.utils.module_loading import import_string

from adapters.base import Adapter
from adapters.secrets import resolve_all

BUILTIN: dict[str, str] = {
    "webhook": "adapters.webhook.adapter.WebhookAdapter",
    "pms": "adapters.pms.adapter.PMSAdapter",
    "marketplace": "adapters.marketplace.adapter.MarketplaceAdapter",
    "slack": "adapters.slack.adapter.SlackAdapter",
    "msteams": "adapters.msteams.adapter.TeamsAdapter",
}
ENTRY_POINT_GROUP = "lrs.adapters"


class UnknownAdapter(LookupError):
    pass


@cache
def _entry_points() -> dict[str, str]:
    return {point.name: point.value.replace(":", ".") for point in entry_points(group=ENTRY_POINT_GROUP)}


def adapter_names() -> list[str]:
    return sorted({*BUILTIN, *_entry_points()})


@cache
def adapter_class(name: str) -> type[Adapter]:
    path = BUILTIN.get(name) or _entry_points().get(name)
    if path is None:
        raise UnknownAdapter(f"no adapter named {name!r}; known: {', '.join(adapter_names())}")
    cls = import_string(path)
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise UnknownAdapter(f"{path} is not an Adapter subclass")
    return cls


def adapter_for(name: str, config: dict[str, Any]) -> Adapter:
    """An adapter of kind ``name`` for a target's configuration, its secret references resolved
    (``adapters.secrets.SecretUnavailable`` when one cannot be)."""
    cls = adapter_class(name)
    return cls(config, resolve_all(config, cls.config_schema))
