"""Signing schemes: where a signature is, which bytes were signed, how to compare.

A scheme never raises for bad input: ``verify`` returns ``Verified`` or ``Failure``.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment


@dataclass(frozen=True)
class Key:
    """One secret that may have signed a request. ``key_id`` is never sent to clients."""

    key_id: str
    secret: bytes = field(repr=False)


@dataclass(frozen=True)
class Keyring:
    """The live keys of one tenant, as the host's key lookup found them."""

    tenant_id: str
    keys: Sequence[Key]
    cached: bool = False
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    """A refusal the middleware answers itself as ``{"error": code, "message": text}``."""

    status: int
    error: str
    message: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Verified:
    """A request whose signature matched ``key_id``; ``extra`` goes into the environ."""

    key_id: str
    extra: Mapping[str, Any] = field(default_factory=dict)


Outcome = Verified | Failure
SignedContent = Callable[["WSGIEnvironment", bytes, Keyring], Iterable[bytes] | Failure]


class Scheme(Protocol):
    """What the middleware needs from a signing scheme."""

    name: str

    def verify(
        self, environ: WSGIEnvironment, body: bytes, keyring: Keyring, now: float
    ) -> Outcome: ...


MISSING_SIGNATURE = Failure(401, "missing_signature", "The request has no signature header.")
INVALID_SIGNATURE = Failure(401, "invalid_signature", "The signature does not match.")


def raw_body(environ: WSGIEnvironment, body: bytes, keyring: Keyring) -> Iterable[bytes]:
    """Signed content of the simplest scheme: the body exactly as received."""
    return (body,)


def _first_match(
    keys: Sequence[Key], contents: Iterable[bytes], digest: str, signatures: Sequence[bytes]
) -> str | None:
    """Return the id of a key whose MAC over some content equals some signature."""
    contents = list(contents)
    matched = None
    for key in keys:
        for content in contents:
            expected = hmac.new(key.secret, content, digest).digest()
            for signature in signatures:
                # Every comparison runs; no early exit tells which key or content matched.
                if hmac.compare_digest(expected, signature) and matched is None:
                    matched = key.key_id
    return matched


class HeaderHmacScheme:
    """An HMAC of some signed content, sent in one header, hex or base64 encoded.

    ``content`` returns the candidate byte strings that may have been signed (several when
    clients may render the same payload differently) or a ``Failure``.
    """

    def __init__(
        self,
        header: str,
        *,
        content: SignedContent = raw_body,
        encoding: str = "hex",
        digest: str = "sha256",
        name: str = "header-hmac",
    ) -> None:
        if encoding not in ("hex", "base64"):
            raise ValueError("encoding must be 'hex' or 'base64'")
        hashlib.new(digest)  # fail at start-up, not per request, on an unknown digest
        self.environ_key = "HTTP_" + header.upper().replace("-", "_")
        self.content = content
        self.encoding = encoding
        self.digest = digest
        self.name = name

    def _decode(self, text: str) -> bytes | None:
        try:
            if self.encoding == "hex":
                return bytes.fromhex(text)
            return base64.b64decode(text, validate=True)
        except (ValueError, binascii.Error):
            return None

    def verify(
        self, environ: WSGIEnvironment, body: bytes, keyring: Keyring, now: float
    ) -> Outcome:
        header = environ.get(self.environ_key, "").strip()
        if not header:
            return MISSING_SIGNATURE
        signature = self._decode(header)
        if signature is None:
            return INVALID_SIGNATURE
        contents = self.content(environ, body, keyring)
        if isinstance(contents, Failure):
            return contents
        key_id = _first_match(keyring.keys, contents, self.digest, [signature])
        return INVALID_SIGNATURE if key_id is None else Verified(key_id)


class StandardWebhookScheme:
    """Standard Webhooks: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``.

    The signed content is ``{id}.{timestamp}.{raw body}``; the signature header holds one or
    more space-separated ``v1,<base64>`` entries, and one match is enough (key rotation).
    Timestamps further than ``tolerance`` seconds from ``now`` either way are refused, which
    bounds how long a captured request can be replayed; the host deduplicates ids within it.
    """

    name = "standard-webhooks"
    max_signatures = 16

    def __init__(self, *, tolerance: float | Callable[[Keyring], float] = 300) -> None:
        self.tolerance = tolerance

    def _tolerance(self, keyring: Keyring) -> float:
        return self.tolerance(keyring) if callable(self.tolerance) else self.tolerance

    def verify(
        self, environ: WSGIEnvironment, body: bytes, keyring: Keyring, now: float
    ) -> Outcome:
        msg_id = environ.get("HTTP_WEBHOOK_ID", "")
        timestamp = environ.get("HTTP_WEBHOOK_TIMESTAMP", "")
        header = environ.get("HTTP_WEBHOOK_SIGNATURE", "")
        if not (msg_id and timestamp and header):
            return Failure(
                401,
                "missing_signature",
                "webhook-id, webhook-timestamp and webhook-signature are all required.",
            )
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
            return Failure(401, "invalid_timestamp", "webhook-timestamp must be Unix seconds.")
        if abs(now - int(timestamp)) > self._tolerance(keyring):
            return Failure(
                401, "stale_timestamp", "webhook-timestamp is outside the accepted tolerance."
            )
        signatures = []
        for entry in header.split()[: self.max_signatures]:
            version, _, encoded = entry.partition(",")
            if version != "v1":
                continue
            try:
                signatures.append(base64.b64decode(encoded, validate=True))
            except (ValueError, binascii.Error):
                continue
        if not signatures:
            return INVALID_SIGNATURE
        try:
            content = f"{msg_id}.{timestamp}.".encode() + body
        except UnicodeEncodeError:
            return INVALID_SIGNATURE
        key_id = _first_match(keyring.keys, [content], "sha256", signatures)
        if key_id is None:
            return INVALID_SIGNATURE
        return Verified(key_id, {"hmac.message_id": msg_id, "hmac.timestamp": int(timestamp)})
