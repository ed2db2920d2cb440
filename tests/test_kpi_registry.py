"""The KPI registry is one source: its YAML, the docs site and the catalog must agree."""

from __future__ import annotations

import re

import pytest
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


def test_the_kpi_list_macro_names_exactly_the_defined_kpis_in_their_order():
    # dbt resolves kpi_values' refs while it parses, before graph.nodes holds the registry,
    # so the macro keeps a list of its own: the registry's ids, in the registry's order.
    macro = (DBT_PROJECT_DIR / "macros" / "kpi_helpers.sql").read_text()
    body = macro[macro.index("macro kpi_ids()") :]
    listed = re.findall(r"'([a-z_]+)'", body[: body.index("endmacro")])
    assert listed == list(definitions())


def test_the_scorecard_orders_the_kpis_as_the_registry_does(tmp_path, monkeypatch):
    from reports import registry, scorecard_cards
    from reports.scorecard import ScorecardError

    assert registry.catalog_order() == list(definitions())
    reordered = tmp_path / "_kpis__models.yml"
    reordered.write_text(
        yaml.safe_dump(
            {
                "models": [
                    {"name": "fct_kpi_win_rate", "config": {"meta": {"kpi": {"id": "win_rate"}}}},
                    {"name": "fct_kpi_targets"},
                    {"name": "fct_kpi_revenue", "config": {"meta": {"kpi": {"id": "revenue"}}}},
                ]
            }
        )
    )
    monkeypatch.setattr(registry, "REGISTRY_FILE", reordered)
    rows = [{"kpi_id": k} for k in ("revenue", "zeta", "alpha", "win_rate")]
    # KPIs the registry does not list come last, by id.
    assert [r["kpi_id"] for r in scorecard_cards.in_catalog_order(rows)] == [
        "win_rate",
        "revenue",
        "alpha",
        "zeta",
    ]
    monkeypatch.setattr(registry, "REGISTRY_FILE", tmp_path / "missing.yml")
    with pytest.raises(ScorecardError, match=r"^The KPI registry .*missing\.yml cannot"):
        scorecard_cards.in_catalog_order(rows)


def test_each_docs_block_states_the_current_formula_and_owner():
    docs = (KPI_DIR / "_kpis__docs.md").read_text()
    for kpi_id, kpi in definitions().items():
        block = docs[docs.index(f"{{% docs kpi_{kpi_id} %}}") :]
        block = block[: block.index("{% enddocs %}")]
        current = max(kpi["versions"], key=lambda v: v["version"])
        assert current["formula"] in block, kpi_id
        assert kpi["owner"] in block and kpi["review_cadence"] in block, kpi_id
        assert f"version {current['version']}" in block, kpi_id


# --- the generated docs pages --------------------------------------------------------------


def test_the_committed_docs_pages_are_what_the_registry_and_quality_yml_generate():
    from orchestration.kpis import docs

    for path, text in docs.generated().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} is stale: python -m orchestration.kpis.docs write"
        )
    assert docs.main(["check"]) == 0


def test_a_changed_target_changes_the_page_that_states_it():
    from orchestration.kpis import docs

    registry = docs.load_registry()
    before = docs.render_kpi_docs(registry)
    registry["csat_score"]["targets"].append(
        {"effective_from": "2027-01-01", "target": 4.5, "amber_tolerance": 0.02, "reason": "r"}
    )
    after = docs.render_kpi_docs(registry)
    assert after != before
    assert "From 2027-01-01: 4.5; on track at or above it" in after


def test_each_page_states_the_target_in_words_worked_out_by_hand():
    docs_text = (KPI_DIR / "_kpis__docs.md").read_text()

    def block(kpi_id):
        start = docs_text.index(f"{{% docs kpi_{kpi_id} %}}")
        return docs_text[start : docs_text.index("{% enddocs %}", start)]

    # 8000 USD, amber 5% below: 8000 × 0.95 = 7600.
    assert (
        "Since the warehouse began: 8,000 USD; on track at or above it; at risk (amber) when "
        "below it by at most 5% of the target, down to 7,600 USD; off track below that."
    ) in block("average_order_value")
    # Lower is better, 75 USD with 10%: amber up to 75 × 1.1 = 82.5.
    assert "75 USD; on track at or below it" in block("cost_per_lead")
    assert "up to 82.5 USD; off track above that" in block("cost_per_lead")
    # A ratio is written as a percentage: 0.55 is 55%, amber down to 0.5225 = 52.25%.
    assert "55%; on track at or above it" in block("gross_margin_rate")
    assert "down to 52.25%" in block("gross_margin_rate")
    # Revenue's target is the plan, which the page names, with the way to its lineage.
    assert "the revenue plan (sales.sales_targets)" in block("revenue")
    assert "#!/model/model.kpi_warehouse.fct_kpi_targets" in block("revenue")
    # The lineage note names the entities int_as_of adds, not the KPI's own sources.
    (lineage,) = [line for line in block("revenue").splitlines() if "**Lineage**" in line]
    assert "crm.accounts" in lineage and "ops.attendance" in lineage
    assert "sales.orders" not in lineage
    for kpi_id, kpi in definitions().items():
        text = block(kpi_id)
        assert kpi["target_reason"] in text, kpi_id
        assert "int_as_of" in text, kpi_id
        assert "#!/exposure/exposure.kpi_warehouse.data_quality_rules" in text, kpi_id
        assert f"**Accountable owner**: {kpi['owner']}," in text, kpi_id
        assert "warehouse-outputs" not in text


def test_a_first_version_governs_every_period():
    for kpi_id, kpi in definitions().items():
        first = min(kpi["versions"], key=lambda v: v["version"])
        first_target = kpi["targets"][0]
        assert str(first["effective_from"]) <= str(first_target["effective_from"]), kpi_id
    docs_text = (KPI_DIR / "_kpis__docs.md").read_text()
    assert docs_text.count("version 1, in force for every period") == len(CATALOG_IDS)


def test_the_quality_page_lists_every_rule_with_its_severity():
    from expectations.config import QualityConfig
    from orchestration.kpis import docs

    page = docs.QUALITY_DOCS_FILE.read_text(encoding="utf-8")
    entity, kpi = docs.quality_rules()
    assert len(entity) > 50 and len(kpi) == 6
    for rule in kpi:
        assert f"| {rule.name} | {rule.severity} |" in page
    for rule in entity:
        assert f"| {rule.suite} | {rule.name} | {rule.severity} |" in page
    # Thresholds from quality.yml appear as written there.
    config = QualityConfig.load()
    lag = config.entity_rule("freshness", "ops.incidents")["max_lag_days"]
    assert f"ops.incidents is at most {lag} days" in page
    assert (
        "| score_within_bounds | error | Every KPI value of unit 'score' lies within [1, 5]"
    ) in page


def test_the_groups_name_stewards_not_owners_of_the_number():
    groups = yaml.safe_load((DBT_PROJECT_DIR / "models" / "_groups.yml").read_text())["groups"]
    for group in groups:
        assert "steward of the" in group["owner"]["name"], group


def test_docs_cite_no_file_outside_the_repository():
    # The contract the tables follow is stated in the docs themselves; a pointer to a file
    # the repository does not hold leaves a reviewer with nothing to open.
    root = DBT_PROJECT_DIR
    cited = [
        str(path.relative_to(root))
        for folder in ("models", "docs")
        for path in (root / folder).rglob("*")
        if path.suffix in (".yml", ".md", ".sql") and "warehouse-outputs" in path.read_text()
    ]
    assert cited == []
