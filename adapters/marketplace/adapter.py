"""Marketplace skill records: one record per competency a statement awards.

``PUT {base_url}/api/v1/members/{memberId}/skills/{competencyCode}`` with a body built
by the CSV field mapping (``adapters/marketplace/mapping.csv``: which source field feeds
which target field, with named transforms), an ``Idempotency-Key`` per record and an
OAuth2 client-credentials token. Competencies come from the active versioned
competency mapping. Retraction on void revokes the records (``DELETE`` the same URL).
"""

from __future__ import annotations

from functools import cache
from typing import Any, ClassVar
from urllib.parse import quote

from adapters.base import AdapterError, DeliveryContext, OutboundRequest
from adapters.identity.resolution import employee_for_actor
from adapters.models import CompetencyMapping as CompetencyMappingRow
from adapters.oauth import OAUTH_CONFIG_PROPERTIES, OAuthAdapter
from adapters.rules.competencies import CompetencyMapping, competencies_for
from adapters.rules.field_mapping import DEFAULT_MAPPING_PATH, FieldMapping, MappingError, load_field_mapping


@cache
def field_mapping(path: str = str(DEFAULT_MAPPING_PATH)) -> FieldMapping:
    return load_field_mapping(path)


def active_competency_mapping(version: str | None = None) -> CompetencyMapping | None:
    rows = CompetencyMappingRow.objects.all()
    row = rows.filter(version=version).first() if version else rows.filter(is_active=True).first()
    if row is None:
        return None
    return CompetencyMapping.from_json({"version": row.version, "rules": row.rules})


class MarketplaceAdapter(OAuthAdapter):
    name = "marketplace"
    description = "Skill / competency records in the internal talent marketplace"
    supports_retraction = True
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["base_url", "token_url", "client_id", "client_secret"],
        "additionalProperties": False,
        "properties": {
            "base_url": {"type": "string", "pattern": "^https?://"},
            **OAUTH_CONFIG_PROPERTIES,
            "competency_mapping_version": {"type": "string", "description": "default: the active version"},
            "field_mapping_path": {
                "type": "string",
                "description": "default: adapters/marketplace/mapping.csv",
            },
            "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 120},
        },
    }

    def resolve(self, statement: dict, context: DeliveryContext) -> dict[str, Any]:
        mapping = active_competency_mapping(self.config.get("competency_mapping_version"))
        awards = competencies_for(statement, mapping) if mapping is not None else []
        if not awards:
            return {"awards": []}  # nothing to record: no identity needed
        return {
            "employee_id": employee_for_actor(statement["actor"]),
            "awards": [a.to_json() for a in awards],
        }

    def records(self, statement: dict, context: DeliveryContext) -> list[dict[str, Any]]:
        mapping = field_mapping(self.config.get("field_mapping_path", str(DEFAULT_MAPPING_PATH)))
        base_sources = mapping.sources_from("xapi", statement)
        if "xapi:actor.mbox" not in base_sources and context.resolved.get("email"):
            base_sources["xapi:actor.mbox"] = context.resolved["email"]
        documents = []
        for award in context.resolved["awards"]:
            sources = {
                **base_sources,
                "hris:employee_id": context.resolved["employee_id"],
                "lrs:competency.code": award["code"],
                "lrs:competency.level": award["level"],
                "lrs:competency.evidence": [award["evidence"]],
            }
            try:
                documents.append(mapping.apply(sources))
            except MappingError as exc:
                raise AdapterError(f"cannot build the skill record: {exc}", permanent=True) from None
        return documents

    def _request(self, method: str, document: dict[str, Any], context: DeliveryContext) -> OutboundRequest:
        member, code = quote(document["memberId"], safe=""), quote(document["competencyCode"], safe="")
        path = f"/api/v1/members/{member}/skills/{code}"
        return OutboundRequest(
            method=method,
            url=self.config["base_url"].rstrip("/") + path,
            json=document if method == "PUT" else None,
            headers={
                "Idempotency-Key": f"{context.idempotency_key}:{document['competencyCode']}",
                **({"Content-Type": "application/json"} if method == "PUT" else {}),
            },
            timeout=float(self.config.get("timeout_seconds", 10)),
        )

    def translate(self, statement: dict, context: DeliveryContext) -> list[OutboundRequest]:
        return [self._request("PUT", document, context) for document in self.records(statement, context)]

    def translate_retraction(self, statement: dict, context: DeliveryContext) -> list[OutboundRequest]:
        return [self._request("DELETE", document, context) for document in self.records(statement, context)]
