"""The xAPI specification as pure code, one concept per module (validation per version, agents,
canonical form, JWS, multipart, timestamps), each citing its section of the spec.

May import: the standard library, ``cryptography``, ``orjson`` and each other. Never Django,
the rest of ``lrs`` or ``adapters``.
"""
