"""Conversion event ingestion, in packages by capability, lowest layer first:

``core`` (rules and forms, standard library only); ``store`` (the database); ``tenants``,
``rollups`` and ``web`` (accounts, figures, Flask plumbing); ``ingest`` and ``monitoring``
(the endpoints that take events and those that read figures); ``operations`` (dead letters,
replay, test events, security status); ``jobs`` (scheduled work); ``settings_page`` (the page
for people). A package imports only from lower layers and ``wsgi_hmac``; packages in one
layer don't import each other (``make lint`` checks it). docs/architecture.md has the map.
"""
