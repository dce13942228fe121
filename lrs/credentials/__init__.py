"""Credentials: HTTP Basic key/secret pairs (only a SHA-256 digest of the secret is kept), their
xAPI scopes (Communication 4.2) and the service that creates or updates them.

May import: Django only. Never another room of ``lrs`` or ``adapters``.
"""
