"""The provisioned Grafana dashboard: valid JSON with unique panel ids, every query valid
PromQL over metrics syncd really exports, store gauges aggregated with max(); and the
provisioning files are valid YAML that point at it."""

from __future__ import annotations

import json
import re

import promql_parser
import yaml

from tests.deploy.support import DEPLOY
from tests.deploy.test_prometheus import STORE_GAUGES, base_name, exported_metrics

GRAFANA = DEPLOY / "grafana"
_METRIC = re.compile(r"\b(syncd_[a-z_]+)")


def dashboard() -> dict:
    return json.loads((GRAFANA / "syncd-dashboard.json").read_text())


def test_dashboard_is_valid_json_with_unique_panels():
    d = dashboard()
    assert d["uid"] and d["title"] == "Selvbook syncd"
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids)) and len(ids) >= 10
    for p in d["panels"]:
        assert p["targets"] and set(p["gridPos"]) == {"x", "y", "w", "h"}


def test_every_query_is_promql_over_exported_metrics():
    exported = exported_metrics()
    used = set()
    for panel in dashboard()["panels"]:
        for target in panel["targets"]:
            # Grafana's variables, as Grafana substitutes them before Prometheus sees the query.
            expr = target["expr"].replace("$__rate_interval", "5m").replace("$job", ".*")
            promql_parser.parse(expr)  # raises on invalid PromQL
            for series in _METRIC.findall(expr):
                name = base_name(series)
                assert name in exported, f"{panel['title']}: {series} is not exported"
                used.add(name)
                if name in STORE_GAUGES:
                    assert re.search(rf"max(\s+by\s*\([^)]*\))?\s*\(\s*{name}\b", expr), (
                        f"{panel['title']}: store gauge {name} must be aggregated with max()"
                    )
    assert {"syncd_outbox_depth", "syncd_booking_to_calendar_seconds"} <= used


def test_provisioning_files_point_at_the_dashboard():
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/syncd.yaml").read_text())
    assert provider["providers"][0]["options"]["path"].startswith("/var/lib/grafana/dashboards")
    source = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yaml").read_text())
    assert source["datasources"][0]["type"] == "prometheus"
