"""Tenants: accounts with their signing secrets (creation, rotation with grace, the per-process
key cache the middleware looks keys up in), per-tenant settings, and the ``flask tenant`` commands.
May import ``core``, ``store`` and ``wsgi_hmac``."""
