"""Client for the conversions service: signed goals, Standard Webhooks deliveries, pixel URLs.

Standard library only. The signing rules are in the service's ``docs/signing.md``::

    from conversions_client import send_goal

    answer = send_goal("http://127.0.0.1:8000", "shop.example.com", TENANT_ID, PIXEL_SECRET,
                       "purchase", "sess_1", value=12.5, currency="USD")
    answer.status, answer.json()   # 202 {"duplicate": false, "event_id": "1"}
"""
from __future__ import annotations

from conversions_client.canonical import canonical_goal
from conversions_client.goals import SignedGoal, send_goal, sign_goal
from conversions_client.pixel import pixel_url
from conversions_client.transport import Response
from conversions_client.webhooks import SignedWebhook, send_webhook, sign_webhook

__all__ = [
    "Response",
    "SignedGoal",
    "SignedWebhook",
    "canonical_goal",
    "pixel_url",
    "send_goal",
    "send_webhook",
    "sign_goal",
    "sign_webhook",
]
