"""The Microsoft Teams target (Microsoft Graph): activity-feed notifications or channel messages,
with the encrypted store of the rotating delegated refresh token (``token_store``).

May import: the contract modules of ``adapters`` (base, http, oauth, models), ``adapters.rules``
and ``adapters.identity.resolution``. Never another target package or the delivery engine.
"""
