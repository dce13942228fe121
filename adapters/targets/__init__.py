"""The configured targets (instances of the adapter kinds): ``file`` (targets declared in
``LRS_TARGETS_FILE``, validated and upserted), ``enabled`` (the enabled targets, cached per process,
as ingest asks for them), ``checks`` (the system check that every stored target still fits its
adapter).

May import: ``adapters.models``, ``adapters.config``, ``adapters.registry``. Never ``delivery``,
``identity``, ``ops``, ``admin`` or a target package.
"""
