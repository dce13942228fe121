"""The Slack target: notifications by bot token (``chat.postMessage``) or incoming webhook.

May import: the contract modules of ``adapters`` (base, http) and ``adapters.rules``. Never
another target package or the delivery engine.
"""
