"""The sources events arrive from, each declared once (as ``postback_providers`` declares
providers): its authentication and secret, whether its dead letters replay, whether it is
rate-limited and watched for freshness, and how the settings page draws it.

Everything keyed by source reads this registry; ``tests/core/test_sources.py`` fails when a
source lacks a property.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# The width of every stored source_type column (store/models.py).
NAME_LENGTH = 8


class Authentication(StrEnum):
    """How a source's reports are authenticated."""

    BROWSER = "browser"  # an unsigned hint any page can send
    HMAC = "hmac"  # signed with the tenant's secret
    TOKEN = "token"  # noqa: S105  a postback URL's secret token (a kind, not a secret)
    ADMIN = "admin"  # uploaded by an administrator


@dataclass(frozen=True)
class Source:
    name: str
    authentication: Authentication
    # The kind of tenant secret (a ``SigningKey.kind``) that verifies it; None: none signs it.
    key_kind: str | None
    # Its dead letters can be replayed (operations/replay.py holds each one's re-validator).
    replayable: bool
    # Limited per tenant and address (setting ``rate_limit.<name>``).
    rate_limited: bool
    # Delivers continuously: watched for freshness, with per-source settings.
    watched: bool
    # The settings page's chart: (SVG dash pattern, colour, the pattern in words); the
    # pattern alone tells the lines apart.
    chart: tuple[str, str, str]

    @property
    def authenticated(self) -> bool:
        """A server's report, not a browser's hint."""
        return self.authentication is not Authentication.BROWSER


PIXEL = Source("pixel", Authentication.BROWSER, None, False, True, True,
               ("none", "#1b6ca8", "solid"))
WEBHOOK = Source("webhook", Authentication.HMAC, "webhook", True, True, True,
                 ("8 4", "#b35900", "dashed"))
GOAL = Source("goal", Authentication.HMAC, "pixel", True, True, True, ("2 3", "#5b3f9e", "dotted"))
POSTBACK = Source("postback", Authentication.TOKEN, None, True, True, True,
                  ("12 3 2 3", "#2e7d32", "dash-dot"))
IMPORT = Source("import", Authentication.ADMIN, None, False, False, False,
                ("1 4", "#7a1f4d", "sparse dots"))

SOURCES: dict[str, Source] = {source.name: source
                              for source in (PIXEL, WEBHOOK, GOAL, POSTBACK, IMPORT)}

NAMES = tuple(SOURCES)
WATCHED = tuple(name for name, source in SOURCES.items() if source.watched)
RATE_LIMITED = tuple(name for name, source in SOURCES.items() if source.rate_limited)
REPLAYABLE = tuple(name for name, source in SOURCES.items() if source.replayable)
# The kinds of tenant secret, and the sources each verifies.
SECRET_KINDS = tuple(sorted({s.key_kind for s in SOURCES.values() if s.key_kind}))
VERIFIED_BY = {kind: tuple(name for name, source in SOURCES.items() if source.key_kind == kind)
               for kind in SECRET_KINDS}
