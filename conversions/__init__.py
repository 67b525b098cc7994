"""Conversion event ingestion, in packages by capability, in layers: a package imports only
from lower layers and ``wsgi_hmac``, never from a package of its own layer (``make lint``
checks it). docs/architecture.md has the map.
"""

__version__ = "0.1.0"
