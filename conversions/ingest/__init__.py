"""The endpoints events arrive by: the pixel, Standard Webhooks and the signed goal, with their
schemas, event-row building (one PII check), the HMAC middleware glue (routes, key lookups),
rate limits, test flags, what a refusal leaves behind, and the ``/lp.js`` snippet. May import
``core``, ``store``, ``tenants``, ``rollups``, ``web`` and ``wsgi_hmac``."""
