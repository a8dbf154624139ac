"""The `monitoring` profile's files: Prometheus config, Grafana provisioning and dashboard."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

# Imported for their side effect: registering the metrics (the backends' and the gateway's).
import gateway.observability.backend_metrics
import gateway.observability.metrics  # noqa: F401 - registers the gateway's metrics
from tests.unit.gateway.observability.metrics_support import (
    MONITORING,
    ROOT,
    dashboard_panels,
    dashboard_queries,
)

METRIC_NAME = re.compile(r"\b(gateway_[a-z0-9_]+)")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported_sample_names() -> set[str]:
    """Every sample name the gateway can expose (from its registered metric families)."""
    names: set[str] = set()
    for family in REGISTRY.collect():
        if family.name.startswith("gateway_"):
            names.update(family.name + suffix for suffix in SUFFIXES[family.type])
    return names


def test_every_dashboard_query_names_metrics_the_gateway_exports() -> None:
    exported = exported_sample_names()
    assert len(exported) > 20
    for expr in dashboard_queries():
        used = set(METRIC_NAME.findall(expr))
        assert used or expr == 'up{job="gateway"}', f"query names no gateway metric: {expr}"
        assert used <= exported, f"{expr}: unknown {sorted(used - exported)}"


def test_the_dashboard_covers_what_operators_watch() -> None:
    titles = " | ".join(panel["title"].lower() for panel in dashboard_panels())
    for topic in (
        "requests by route",
        "errors by route",
        "latency percentiles",
        "time to first token",
        "tokens per second",
        "tokens by key",
        "budget refusals by key",
        "rate-limit hits",
        "in-flight requests",
        "upstream health",
    ):
        assert topic in titles
    ids = [panel["id"] for panel in dashboard_panels()]
    assert len(ids) == len(set(ids))
    for panel in dashboard_panels():
        assert panel["datasource"]["uid"] == "prometheus"


def test_grafana_provisioning_points_at_the_prometheus_service_and_the_dashboards() -> None:
    datasources = yaml.safe_load(
        (MONITORING / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    (source,) = datasources["datasources"]
    assert (source["uid"], source["url"]) == ("prometheus", "http://prometheus:9090")
    providers = yaml.safe_load(
        (MONITORING / "grafana/provisioning/dashboards/gateway.yml").read_text()
    )
    assert providers["providers"][0]["options"]["path"] == "/etc/grafana/dashboards"


def test_prometheus_scrapes_the_gateway_with_the_token_file() -> None:
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "gateway"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["gateway:8000"]
    assert job["authorization"] == {
        "type": "Bearer",
        "credentials_file": "/run/gateway/metrics_token",
    }


def test_promtool_accepts_the_prometheus_config(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is needed (apt-get install prometheus; see .ci/install-packages.sh)"
    token = tmp_path / "token"
    token.write_text("t0ken")
    text = (MONITORING / "prometheus.yml").read_text()
    config = tmp_path / "prometheus.yml"
    config.write_text(text.replace("/run/gateway/metrics_token", str(token)))
    result = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return compose


@pytest.mark.parametrize(
    ("service", "variable"), [("prometheus", "PROMETHEUS_IMAGE"), ("grafana", "GRAFANA_IMAGE")]
)
def test_monitoring_services_are_opt_in_with_overridable_images(
    service: str, variable: str
) -> None:
    definition = _compose()["services"][service]
    assert definition["profiles"] == ["monitoring"]
    assert definition["image"].startswith("${" + variable + ":-")
    for port in definition["ports"]:
        assert port.startswith("${MONITORING_BIND:-${HTTP_BIND:-0.0.0.0}}:")


def test_grafana_has_no_default_admin_password() -> None:
    grafana = _compose()["services"]["grafana"]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == "${GRAFANA_ADMIN_PASSWORD:-}"
    guard = grafana["entrypoint"][-1]
    assert '""|admin) echo "grafana: set GRAFANA_ADMIN_PASSWORD' in guard
    assert guard.endswith("exec /run.sh")
    mounts = grafana["volumes"]
    assert "./monitoring/grafana/dashboards:/etc/grafana/dashboards:ro" in mounts
    assert "./monitoring/grafana/provisioning:/etc/grafana/provisioning:ro" in mounts


def test_prometheus_gets_the_metrics_token_as_the_file_its_config_reads() -> None:
    prometheus = _compose()["services"]["prometheus"]
    assert prometheus["environment"] == {"GATEWAY_METRICS_TOKEN": "${GATEWAY_METRICS_TOKEN:-}"}
    shell, flag, script, program = prometheus["entrypoint"]
    assert (shell, flag, program) == ("/bin/sh", "-c", "prometheus")
    assert '> /run/gateway/metrics_token && exec prometheus "$$@"' in script
    assert "/run/gateway:size=64k,mode=1777" in prometheus["tmpfs"]
    assert "./monitoring/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
