"""The Learning Record Store: the xAPI 1.0.3 and 2.0 API and the canonical store of statements.

Rooms: ``xapi`` (the spec as pure code), ``api`` (the HTTP resources), ``statements``,
``documents``, ``activities``, ``credentials``, and ``attachment_store`` (where attachment bytes
live). ``lrs`` never imports ``adapters``: the fan-out listens to ``lrs.statements.signals``.
"""
