"""The Grafana dashboard in the repo loads as it is: valid JSON of Grafana's dashboard model,
and every query asks for a metric that `/metrics` really exposes."""

from __future__ import annotations

import json
import re

from prometheus_client import generate_latest

from ivr.metrics import Metrics
from ivr.testing.demo_line import ROOT

DASHBOARD = ROOT / "grafana" / "ivr-dashboard.json"
NAME = re.compile(r"\b(ivr_[a-z_]+)\b")


def exposed_names() -> set[str]:
    metrics = Metrics()
    metrics.call_started()
    metrics.call_ended("resolved")
    metrics.handoff("caller_asked")
    metrics.webhook("turn", 0.01)
    metrics.errors.labels("flow_error").inc()
    metrics.source_lookup("orders", "found", 0.01)
    metrics.source_breaker("orders", "closed")
    text = generate_latest(metrics.registry).decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line.startswith("ivr_")}


def test_the_dashboard_is_a_grafana_model_over_metrics_the_line_exposes() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert isinstance(dashboard["title"], str) and dashboard["uid"]
    assert isinstance(dashboard["schemaVersion"], int)
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels), "panel ids are unique"
    names = exposed_names()
    for panel in panels:
        assert panel["type"] in ("timeseries", "stat"), panel["title"]
        assert (
            set(panel["gridPos"]) == {"x", "y", "w", "h"}
            and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        )
        assert panel["datasource"]["uid"] == "${datasource}"
        for target in panel["targets"]:
            used = set(NAME.findall(target["expr"]))
            assert used, target["expr"]
            assert used <= names, f"{panel['title']}: {used - names} not exposed by /metrics"
            assert target["expr"].count("(") == target["expr"].count(")")
