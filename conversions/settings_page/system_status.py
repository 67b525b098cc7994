"""What ``/settings/system`` shows for a tenant, gathered from the monitoring and attribution
functions (the same ones behind the JSON endpoints) and shaped for the templates."""
from __future__ import annotations

import shlex
from typing import Any

from flask import current_app

from conversions.core import clock, postback_providers
from conversions.core.periods import DAY_MS, HOUR_MS, ceil, floor
from conversions.core.sources import SECRET_KINDS, WATCHED
from conversions.ingest.pixel import PIXEL_PATH
from conversions.ingest.signing import GOAL_PATH
from conversions.monitoring import coverage, health
from conversions.operations import security_status
from conversions.rollups import attribution, figures
from conversions.settings_page import chart
from conversions.settings_page.forms import setting_name
from conversions.store.models import Tenant
from conversions.tenants import accounts, postback_tokens, settings


def defaults(tenant_id: str) -> dict[str, Any]:
    """Per setting name, the value a blank field means: the configured default tenant-wide,
    the tenant-wide value for a source."""
    shown = {}
    for base, (_, config_key) in settings.SETTINGS.items():
        for scope in settings.scopes(base):
            shown[setting_name(base, scope)] = (settings.get(tenant_id, base) if scope
                                                else current_app.config[config_key])
    return shown


def examples(tenant: Tenant, base_url: str) -> dict[str, str]:
    """The pixel tag and a signed-goal curl command, for a tenant with no events yet."""
    root = base_url.rstrip("/")
    pixel = (f"{root}{PIXEL_PATH}?buyer_id={tenant.buyer_id}&source_type=pixel"
             "&event_name=purchase&event_value=12.50&currency=USD")
    canonical = ('{"event_name":"purchase","properties":{"currency":"USD","value":"12.50"},'
                 f'"session_id":"sess_1","tenant_id":"{tenant.id}"}}')
    goal_url = f"{root}{GOAL_PATH}?domain={tenant.domain}"
    body = ('{"event_name":"purchase","session_id":"sess_1",'
            '"properties":{"value":12.5,"currency":"USD"}}')
    curl = "\n".join([
        "SECRET=<your pixel secret, 64 hex characters>",
        f"CANON={shlex.quote(canonical)}",
        "SIG=$(printf '%s' \"$CANON\" | openssl dgst -sha256 -mac HMAC -macopt hexkey:$SECRET"
        " | cut -d' ' -f2)",
        f"curl -i -X POST {shlex.quote(goal_url)} \\",
        "  -H 'Content-Type: application/json' -H \"X-LP-Goal-Signature: $SIG\" \\",
        f"  -d {shlex.quote(body)}",
    ])
    return {"pixel_tag": f'<img src="{pixel}" width="1" height="1" alt="">', "curl": curl}


def for_tenant(tenant: Tenant, base_url: str) -> dict[str, Any]:
    """Every figure the page shows for ``tenant``, as of now."""
    config = current_app.config
    now_ms = clock.now_ms()
    hours = int(config["SETTINGS_PAGE_DAYS"]) * 24
    start_ms = floor(now_ms, "hour") - (hours - 1) * HOUR_MS
    end_ms = start_ms + hours * HOUR_MS
    counts = chart.hourly_counts(figures.by_period(tenant.id, start_ms, end_ms, "hour",
                                                   by_name=False), start_ms, hours)
    readiness = health.readiness(tenant.id)
    attribution_days = int(config["ATTRIBUTION_DEFAULT_DAYS"])
    return {
        "tenant": accounts.public(tenant),
        "secrets": {kind: security_status.secret_status(tenant.id, kind, now_ms)
                    for kind in SECRET_KINDS},
        "windows": {source: settings.get(tenant.id, "freshness_window_seconds", source)
                    for source in WATCHED},
        "defaults": defaults(tenant.id),
        "readiness": readiness,
        "health": health.health(tenant.id, int(config["HEALTH_WINDOW_SECONDS"])),
        # A watched source connected, or events of any source (an import) in the chart.
        "has_events": any(source["connected"] for source in readiness["sources"].values())
        or any(any(values) for values in counts.values()),
        "chart": chart.hourly_chart(counts, start_ms),
        "coverage": coverage.coverage(tenant.id, start_ms, end_ms)["event_names"],
        "page_days": hours // 24,
        "days": chart.daily_table(counts, start_ms),
        "attribution": attribution.report(tenant.id,
                                          ceil(now_ms, "day") - attribution_days * DAY_MS,
                                          now_ms),
        "attribution_days": attribution_days,
        "examples": examples(tenant, base_url),
        "postbacks": {"tokens": postback_tokens.live(tenant.id),
                      "networks": postback_tokens.networks(tenant.id),
                      "urls": postback_providers.urls(base_url, "<token>")},
    }
