"""What each provider's postback means: its parameters read as one conversion, and the URL
template to paste into the provider, in its own macro syntax (docs/postbacks.md cites each).

A provider's ``read`` gives the conversion's fields under this service's names, and the
provider's own name for each (so a refusal names the parameter the provider sent). Values stay
as sent: the shared rules (``ingest/schemas.py``, ``core/rules.py``) judge them.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

Params = Mapping[str, Any]


@dataclass
class Reading:
    """A postback read as one conversion; ``sent_as`` names each field's provider parameter.

    ``identity``: the fields that tell this conversion apart when the provider sends no id of
    its own; never the receipt time and never a status (so a status change finds the event).
    """

    values: dict[str, Any] = field(default_factory=dict)
    sent_as: dict[str, str] = field(default_factory=dict)
    identity: tuple[str, ...] = ()

    def take(self, name: str, params: Params, *paths: str) -> None:
        """Set ``name`` from the first of ``paths`` the postback has (blank counts as absent)."""
        for path in paths:
            value = pick(params, path)
            if value is not None:
                self.values[name], self.sent_as[name] = value, path
                return
        self.sent_as.setdefault(name, paths[0])


def pick(params: Params, path: str) -> Any:
    """``params[path]``, or the nested value a dotted path names (``event_data.revenue``)."""
    value: Any = params.get(path)
    if value is None and "." in path:
        value = params
        for part in path.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
    return None if value in ("", None) else value


def _appsflyer(params: Params) -> Reading:
    reading = Reading(identity=("appsflyer_id", "event_name", "event_time", "event_revenue",
                                "event_revenue_currency", "event_value"))
    reading.take("event_name", params, "event_name")
    reading.take("event_value", params, "event_revenue")
    reading.take("currency", params, "event_revenue_currency")
    reading.take("event_ts", params, "event_time")
    reading.take("click_id", params, "appsflyer_id")
    # event_value is a JSON string of the event's own values; revenue may be only there.
    inner = pick(params, "event_value")
    if isinstance(inner, str):
        try:
            inner = json.loads(inner)
        except (ValueError, RecursionError):  # not JSON, or nested past what parsing can
            inner = None
    if isinstance(inner, dict):
        if "event_value" not in reading.values and pick(inner, "af_revenue") is not None:
            reading.values["event_value"] = pick(inner, "af_revenue")
            reading.sent_as["event_value"] = "event_value.af_revenue"
        if "currency" not in reading.values and pick(inner, "af_currency") is not None:
            reading.values["currency"] = pick(inner, "af_currency")
            reading.sent_as["currency"] = "event_value.af_currency"
    return reading


def _adjust(params: Params) -> Reading:
    reading = Reading(identity=("adid", "event", "event_token", "event_name", "created_at",
                                "revenue_float", "revenue", "currency"))
    reading.take("event_name", params, "event_name", "event", "event_token")
    reading.take("event_value", params, "revenue_float")
    if "event_value" not in reading.values and pick(params, "revenue") is not None:
        reading.values["event_value"] = cents(pick(params, "revenue"))
        reading.sent_as["event_value"] = "revenue"
    reading.take("currency", params, "currency")
    reading.take("event_ts", params, "created_at")
    reading.take("click_id", params, "adid")
    return reading


def _branch(params: Params) -> Reading:
    reading = Reading(identity=("name", "timestamp", "event_data.revenue",
                                "event_data.currency"))
    reading.take("event_name", params, "name")
    reading.take("event_value", params, "event_data.revenue")
    reading.take("currency", params, "event_data.currency")
    reading.take("event_id", params, "event_data.transaction_id", "id")
    timestamp = pick(params, "timestamp")
    if timestamp is not None:  # Unix milliseconds; the shared time rule reads seconds
        reading.values["event_ts"] = milliseconds(timestamp)
    reading.sent_as["event_ts"] = "timestamp"
    return reading


def _redtrack(params: Params) -> Reading:
    # Without rdtk_event_id a conversion is its click and type: its status and sum may change.
    reading = Reading(identity=("clickid", "type"))
    reading.values["event_name"], reading.sent_as["event_name"] = "conversion", "type"
    reading.take("event_name", params, "type")
    reading.take("event_value", params, "sum")
    reading.take("currency", params, "currency")
    reading.take("status", params, "status")
    reading.take("event_id", params, "rdtk_event_id")
    reading.take("click_id", params, "clickid")
    return reading


def _voluum(params: Params) -> Reading:
    reading = Reading(identity=("cid", "et", "payout", "currency"))
    reading.values["event_name"], reading.sent_as["event_name"] = "conversion", "et"
    reading.take("event_name", params, "et")
    reading.take("event_value", params, "payout")
    reading.take("currency", params, "currency")
    reading.take("event_id", params, "txid")
    reading.take("click_id", params, "cid")
    return reading


def _generic(params: Params) -> Reading:
    reading = Reading(identity=("event_name", "event_ts", "value", "currency", "click_id"))
    reading.take("event_name", params, "event_name")
    reading.take("event_value", params, "value")
    reading.take("currency", params, "currency")
    reading.take("event_ts", params, "event_ts")
    reading.take("event_id", params, "event_id")
    reading.take("click_id", params, "click_id")
    return reading


def cents(value: Any) -> Any:
    """Adjust's ``{revenue}`` (whole cents) in currency units; anything else as sent."""
    try:
        return str(Decimal(str(value)).scaleb(-2)) if str(value).isdigit() else value
    except InvalidOperation:
        return value


def milliseconds(value: Any) -> Any:
    """Branch's Unix milliseconds as Unix seconds; anything else as sent."""
    text = str(value)
    return str(Decimal(text).scaleb(-3)) if text.isdigit() else value


@dataclass(frozen=True)
class Provider:
    name: str
    read: Callable[[Params], Reading]
    # The query the provider fills in (its macro syntax); "" when it sends its own payload.
    template: str
    methods: str


PROVIDERS: dict[str, Provider] = {provider.name: provider for provider in (
    # Push API: AppsFlyer sends its own fields (GET query or POST JSON) to the endpoint URL.
    Provider("appsflyer", _appsflyer, "", "GET or POST (Push API)"),
    Provider("adjust", _adjust,
             "event_name={event_name}&event={event}&revenue_float={revenue_float}"
             "&revenue={revenue}&currency={currency}&created_at={created_at}&adid={adid}",
             "GET (callback URL)"),
    # Branch webhooks: the default POST body (event name, id, timestamp, event_data...).
    Provider("branch", _branch, "", "POST (webhook, default body)"),
    Provider("redtrack", _redtrack,
             "clickid={clickid}&sum={sum}&type={type}&status={status}"
             "&rdtk_event_id={rdtk_event_id}&currency=USD", "GET"),
    Provider("voluum", _voluum,
             "cid={clickid}&payout={payout}&txid={txid}&currency={currency}&et={et}",
             "GET or POST"),
    Provider("generic", _generic,
             "event_name={event_name}&value={value}&currency={currency}&event_ts={event_ts}"
             "&event_id={event_id}&click_id={click_id}", "GET or POST (query, form or JSON)"),
)}


PATH = "/api/conversions/postback/{provider}/{token}"


def urls(base_url: str, token: str) -> dict[str, str]:
    """The postback URL of each provider, with its query in the provider's macro syntax."""
    out = {}
    for name, provider in PROVIDERS.items():
        url = base_url.rstrip("/") + PATH.format(provider=name, token=token)
        out[name] = f"{url}?{provider.template}" if provider.template else url
    return out
