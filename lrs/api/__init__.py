"""The xAPI HTTP resources: one view per resource (statements, documents, activities, agents,
about), the frame they run in (``base``: version, authentication, scopes, errors as JSON naming
path and rule), the request (``request``, ``alternate`` for the 1.0.3 alternate syntax) and
HTTP Basic authentication (``auth``). Views stay thin: parse, call a service or selector, render.

May import: every other room of ``lrs``. Nothing in ``lrs`` imports it.
"""
