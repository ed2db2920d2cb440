"""The KPI registry, read where it is written: the governed definitions that each
``fct_kpi_<id>`` model carries in ``models/marts/kpis/_kpis__models.yml``
(``config.meta.kpi``).

The registry's order is the catalog's, the order people are used to reading the KPIs in;
the scorecard keeps it. Every other fact about a KPI the scorecard reads from the
published copy.
"""

from __future__ import annotations

from pathlib import Path

import yaml

REGISTRY_PATH = Path("models") / "marts" / "kpis" / "_kpis__models.yml"
REGISTRY_FILE = Path(__file__).resolve().parent.parent / "dbt_project" / REGISTRY_PATH


def load_registry(path: Path = REGISTRY_FILE) -> dict[str, dict]:
    """kpi_id -> its governed definition (config.meta.kpi), in the registry's order."""
    models = yaml.safe_load(Path(path).read_text())["models"]
    return {
        m["config"]["meta"]["kpi"]["id"]: m["config"]["meta"]["kpi"]
        for m in models
        if "kpi" in (m.get("config") or {}).get("meta", {})
    }


def catalog_order(path: Path | None = None) -> list[str]:
    """The KPI ids in the registry's order."""
    return list(load_registry(path or REGISTRY_FILE))
