"""Helpers for the metrics tests: scrape ``/metrics`` and read samples by name and labels."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
MONITORING = ROOT / "monitoring"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "gateway.json"


@dataclass(frozen=True)
class Sample:
    """One exposed sample."""

    name: str
    labels: dict[str, str]
    value: float


class Scrape:
    """The samples of one scrape."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples = [
            Sample(s.name, dict(s.labels), s.value)
            for family in text_string_to_metric_families(text)
            for s in family.samples
        ]

    def value(self, name: str, **labels: str) -> float:
        """Sum of the samples called ``name`` whose labels include ``labels`` (0 if none)."""
        return sum(s.value for s in self.matching(name, **labels))

    def matching(self, name: str, **labels: str) -> list[Sample]:
        """The samples called ``name`` whose labels include ``labels``."""
        return [
            s
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]

    def names(self) -> set[str]:
        """Every sample name exposed."""
        return {s.name for s in self.samples}


def scrape(base_url: str, token: str | None = None) -> Scrape:
    """GET ``/metrics`` (with the bearer token when given); fails unless it answers 200."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(f"{base_url}/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return Scrape(response.text)


def bucket_counts(scraped: Scrape, name: str, **labels: str) -> list[tuple[float, float]]:
    """``(le, cumulative count)`` pairs of a histogram, in bucket order."""
    buckets = scraped.matching(f"{name}_bucket", **labels)
    return sorted((float(s.labels["le"]), s.value) for s in buckets)


def dashboard_panels() -> list[dict[str, Any]]:
    """The panels of the shipped Grafana dashboard."""
    panels: list[dict[str, Any]] = json.loads(DASHBOARD.read_text())["panels"]
    return panels


def dashboard_queries() -> list[str]:
    """Every PromQL expression of the shipped dashboard."""
    return [target["expr"] for panel in dashboard_panels() for target in panel["targets"]]
