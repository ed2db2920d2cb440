"""The KPI registry is one source: its YAML, the docs site and the catalog must agree."""

from __future__ import annotations

import re

import yaml

from orchestration.settings import DBT_PROJECT_DIR

KPI_DIR = DBT_PROJECT_DIR / "models" / "marts" / "kpis"
CATALOG_IDS = {
    "revenue", "average_order_value", "gross_margin_rate", "cost_per_lead",
    "customer_retention_rate", "csat_score", "on_time_delivery_rate",
    "first_response_time_hours", "sla_compliance_rate", "lead_conversion_rate", "win_rate",
    "ticket_backlog", "order_completion_time_days", "defect_rate", "service_availability",
    "attendance_rate",
}  # fmt: skip
REQUIRED = {
    "id", "name", "description", "question", "owner", "perspective", "indicator_type",
    "measure_type", "unit", "direction", "review_cadence", "default_target",
    "amber_tolerance", "target_reason", "dimensions", "source_entities", "aggregation",
    "target_source", "score_weight", "versions",
}  # fmt: skip


def definitions() -> dict[str, dict]:
    models = yaml.safe_load((KPI_DIR / "_kpis__models.yml").read_text())["models"]
    return {
        m["config"]["meta"]["kpi"]["id"]: m["config"]["meta"]["kpi"]
        for m in models
        if "kpi" in m.get("config", {}).get("meta", {})
    }


def test_every_catalog_kpi_has_a_complete_definition():
    found = definitions()
    assert set(found) == CATALOG_IDS
    for kpi_id, kpi in found.items():
        assert set(kpi) >= REQUIRED, (kpi_id, REQUIRED - set(kpi))
        assert (KPI_DIR / f"fct_kpi_{kpi_id}.sql").exists()
        versions = [v["version"] for v in kpi["versions"]]
        assert versions == sorted(versions) and versions[0] == 1


def test_the_kpi_list_macro_names_exactly_the_defined_kpis():
    macro = (DBT_PROJECT_DIR / "macros" / "kpi_helpers.sql").read_text()
    body = macro[macro.index("macro kpi_ids()") :]
    listed = set(re.findall(r"'([a-z_]+)'", body[: body.index("endmacro")]))
    assert listed == set(definitions())


def test_each_docs_block_states_the_current_formula_and_owner():
    docs = (KPI_DIR / "_kpis__docs.md").read_text()
    for kpi_id, kpi in definitions().items():
        block = docs[docs.index(f"{{% docs kpi_{kpi_id} %}}") :]
        block = block[: block.index("{% enddocs %}")]
        current = max(kpi["versions"], key=lambda v: v["version"])
        assert current["formula"] in block, kpi_id
        assert kpi["owner"] in block and kpi["review_cadence"] in block, kpi_id
        assert f"version {current['version']}" in block, kpi_id
