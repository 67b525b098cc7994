"""Every error code the service answers, as data: status, meaning, what the sender should do.

``dead_letter`` marks the codes under which an authenticated event is kept for replay
(``conversions/store/dead_letters.py``); every other refusal is only counted.
"""
from __future__ import annotations

from typing import NamedTuple


class ErrorCode(NamedTuple):
    status: int
    description: str
    action: str
    dead_letter: bool = False


_FIX = "Fix the request; sending it again unchanged fails the same way."
_SIGN = "Sign the exact bytes sent with the tenant's current secret (docs/signing.md)."

ERRORS: dict[str, ErrorCode] = {
    # Finding the tenant and verifying the signature (the HMAC middleware).
    "missing_domain": ErrorCode(400, "A goal has no ?domain= parameter.",
                                "Add ?domain=<your registered domain>."),
    "unknown_domain": ErrorCode(404, "No tenant is registered for the goal's domain.",
                                "Use the domain the tenant was created with."),
    "missing_tenant": ErrorCode(400, "The request does not name its tenant.",
                                "Send the buyer id the tenant was created with."),
    "unknown_tenant": ErrorCode(404, "The named tenant does not exist.",
                                "Check the tenant id or buyer id."),
    "unknown_buyer": ErrorCode(400, "No tenant is registered for the buyer id.",
                               "Use the buyer id the tenant was created with."),
    "invalid_token": ErrorCode(401, "The postback URL's token is unknown, revoked, or not the "
                               "named tenant's.", "Paste the URL `tenant postback-token` printed; "
                               "after a rotation, use the new token."),
    "address_not_allowed": ErrorCode(403, "The sender's address is not on the tenant's postback "
                                     "allow-list.", "Add the provider's published ranges to the "
                                     "allow-list, or send from an allowed address."),
    "invalid_webhook_id": ErrorCode(400, "webhook-id is over 255 characters or not printable.",
                                    "Send a short, printable, unique id per delivery."),
    "missing_signature": ErrorCode(401, "The signature header(s) are missing.", _SIGN),
    "invalid_signature": ErrorCode(401, "No live key of the tenant produced the signature.",
                                   _SIGN + " After a rotation, switch before the grace ends."),
    "invalid_timestamp": ErrorCode(401, "webhook-timestamp is not Unix seconds.",
                                   "Send the signing time as whole Unix seconds."),
    "stale_timestamp": ErrorCode(401, "webhook-timestamp is outside the tolerance (5 min).",
                                 "Sign just before sending and keep the sender's clock in sync."),
    # The body.
    "length_required": ErrorCode(411, "A signed request has no Content-Length.",
                                 "Send a Content-Length header (or chunked encoding)."),
    "incomplete_body": ErrorCode(400, "The body is shorter than its Content-Length.",
                                 "Retry; the connection lost part of the body."),
    "invalid_content_length": ErrorCode(400, "Content-Length is not a number.", _FIX),
    "request_timeout": ErrorCode(408, "The body did not arrive within BODY_TIMEOUT_SECONDS "
                                 "(10 s).", "Send the whole body at once; retry."),
    "server_busy": ErrorCode(503, "Every thread that reads bodies is waiting for a slow one.",
                             "Retry after Retry-After seconds."),
    "payload_too_large": ErrorCode(413, "The body is over the limit (64 KiB goal, 1 MiB "
                                   "webhook, 256 KiB postback, 1 GiB import).",
                                   "Send smaller bodies or smaller batches."),
    "invalid_json": ErrorCode(400, "The body is not a JSON object.", _FIX, dead_letter=True),
    "json_too_complex": ErrorCode(400, "The JSON body (or the parameters) nests deeper, or "
                                  "holds more keys or strings, than JSON_MAX_DEPTH (32), "
                                  "JSON_MAX_KEYS or JSON_MAX_STRINGS (50,000 each) allow.",
                                  "Send flatter, smaller events, or smaller batches."),
    "unsupported_media_type": ErrorCode(415, "The content type is not accepted.",
                                        "Send Content-Type: application/json."),
    # The event's rules.
    "pii_rejected": ErrorCode(400, "Personal data (email, phone, SSN) was found; `fields` "
                              "says where.", "Hash identifiers before sending.",
                              dead_letter=True),
    "invalid_event": ErrorCode(400, "A field breaks a rule; `fields` names each problem.",
                               _FIX + " Kept as a dead letter: an operator may replay it "
                               "once the rule is relaxed.", dead_letter=True),
    # Load and storage.
    "rate_limited": ErrorCode(429, "Over the tenant's rate limit for the source.",
                              "Wait for Retry-After seconds, then send again."),
    "store_unavailable": ErrorCode(503, "Storage failed or did not answer within "
                                   "WRITE_TIMEOUT_SECONDS; the event may have been stored.",
                                   "Retry after Retry-After seconds; retrying is safe (an "
                                   "event with its event_id is stored once).",
                                   dead_letter=True),
    "internal_error": ErrorCode(500, "An unexpected error; it is logged.",
                                "Retry later; report it if it persists."),
    # Read and admin endpoints, and generic HTTP refusals.
    "bad_request": ErrorCode(400, "The request is malformed.", _FIX),
    "invalid_parameter": ErrorCode(400, "A query parameter is malformed; `fields` says which.",
                                   _FIX),
    "unauthorized": ErrorCode(401, "The admin bearer token is missing or wrong.",
                              "Send Authorization: Bearer <CONVERSIONS_ADMIN_TOKEN>."),
    "forbidden": ErrorCode(403, "Not allowed: a remote client without a configured token, "
                           "or a cross-site admin request.",
                           "Configure an admin token, or call from the same site."),
    "not_found": ErrorCode(404, "No such path or record.", "Check the URL or id."),
    "method_not_allowed": ErrorCode(405, "The path does not take this method.",
                                    "Use a method from the Allow header."),
    "invalid_csv": ErrorCode(400, "The CSV upload has no usable header or is not UTF-8.",
                             "Send UTF-8 CSV with the format's header row (docs/postbacks.md)."),
    "import_refused": ErrorCode(422, "Rows of the import break rules; nothing was stored. "
                                "`errors` lists every one by row.",
                                "Fix the rows, or send partial=true to store the valid ones."),
    "not_replayable": ErrorCode(409, "The dead letter's payload was masked or truncated.",
                                "Have the sender send the event again, corrected."),
    "http_error": ErrorCode(400, "Another HTTP refusal (status as answered).", _FIX),
}


def dead_lettered(code: str) -> bool:
    """Whether an authenticated event refused with ``code`` is kept for replay."""
    entry = ERRORS.get(code)
    return entry is not None and entry.dead_letter
