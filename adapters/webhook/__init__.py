"""The generic webhook target: each matching statement POSTed to a URL, signed (Standard Webhooks
by default, ``signing``).

May import: the contract modules of ``adapters`` (base, http, secrets) and ``adapters.rules``.
Never another target package or the delivery engine.
"""
