"""The alert rules and the dashboard name only metrics the service exposes."""
from __future__ import annotations

import json
import re
from pathlib import Path

from tests.observability.test_exposition import FAMILIES

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SUFFIXES = ("_total", "_bucket", "_sum", "_count")


def named(text: str) -> set[str]:
    found = set()
    for name in re.findall(r"\b(conversions_[a-z_]+)", text):
        for suffix in SUFFIXES:
            name = name.removesuffix(suffix)
        found.add(name)
    return found


def test_alerts_name_only_exposed_metrics():
    assert named((DEPLOY / "prometheus" / "alerts.yml").read_text()) <= FAMILIES


def test_dashboard_names_only_exposed_metrics():
    dashboard = json.loads((DEPLOY / "grafana" / "conversions.json").read_text())
    exprs = " ".join(t["expr"] for panel in dashboard["panels"] for t in panel["targets"])
    assert named(exprs) <= FAMILIES
