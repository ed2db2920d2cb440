"""A KPI's computation cannot change without a new definition version."""

from __future__ import annotations

import copy
import json

from orchestration.kpis import fingerprints


def test_recorded_fingerprints_match_the_definitions():
    current = fingerprints.compute(fingerprints.load_manifest())
    recorded = json.loads(fingerprints.FINGERPRINTS_FILE.read_text())
    assert fingerprints.problems(recorded, current) == []
    assert len(current) == 16


def test_a_change_upstream_without_a_version_bump_is_caught():
    manifest = fingerprints.load_manifest()
    recorded = fingerprints.compute(manifest)
    changed = copy.deepcopy(manifest)
    orders = next(n for n in changed["nodes"].values() if n["name"] == "fct_orders")
    orders["raw_code"] = orders["raw_code"].replace("coalesce(order_lines.discount_amount, 0)", "0")

    found = fingerprints.problems(recorded, fingerprints.compute(changed))

    flagged = sorted(s.split()[1] for s in found)
    assert flagged == ["average_order_value", "gross_margin_rate", "revenue"]


def test_reformatting_and_comments_are_not_a_change():
    manifest = fingerprints.load_manifest()
    recorded = fingerprints.compute(manifest)
    changed = copy.deepcopy(manifest)
    node = next(n for n in changed["nodes"].values() if n["name"] == "fct_kpi_win_rate")
    node["raw_code"] = "-- a new comment\n" + node["raw_code"].replace("\n", "\n\n  ")

    assert fingerprints.problems(recorded, fingerprints.compute(changed)) == []


def test_a_bumped_version_is_accepted():
    manifest = fingerprints.load_manifest()
    recorded = fingerprints.compute(manifest)
    changed = copy.deepcopy(manifest)
    node = next(n for n in changed["nodes"].values() if n["name"] == "fct_kpi_defect_rate")
    node["raw_code"] = node["raw_code"].replace("units_defective as numerator", "0 as numerator")
    versions = node["config"]["meta"]["kpi"]["versions"]
    versions.append({"version": 2, "effective_from": "2027-01-01", "formula": "changed"})

    assert fingerprints.problems(recorded, fingerprints.compute(changed)) == []


def test_materialisation_config_and_incremental_filters_are_not_a_change():
    plain = "with source as (\n    select * from {{ source('sales', 'orders') }}\n)\n"
    incremental = (
        "{{ config(materialized=incremental_by_key(), unique_key=['order_id']) }}\n"
        "with source as (\n    select * from {{ source('sales', 'orders') }}\n"
        "    {{ changed_keys_only(source('sales', 'orders'), 'order_id') }}\n"
        "    {% if is_incremental() %}\n    and _loaded_at > (select max(_loaded_at) "
        "from {{ this }})\n    {% endif %}\n)\n"
    )
    assert fingerprints._normalise(incremental) == fingerprints._normalise(plain)
    # What the model selects is still part of it.
    other = incremental.replace("'orders') }}\n    {{", "'order_lines') }}\n    {{")
    assert fingerprints._normalise(other) != fingerprints._normalise(plain)
    # An incremental branch with an else: the else branch is the full build, and stays.
    branched = plain.replace(
        "select *",
        "{%- if is_incremental() %} select order_id {%- else %} select * {%- endif %}",
    )
    assert fingerprints._normalise(branched) == fingerprints._normalise(plain)
    assert fingerprints._normalise(branched.replace("else %} select *", "else %} select 1")) != (
        fingerprints._normalise(plain)
    )


def test_the_incremental_macros_are_not_part_of_a_fingerprint():
    manifest = fingerprints.load_manifest()
    recorded = fingerprints.compute(manifest)
    changed = copy.deepcopy(manifest)
    for uid, macro in changed["macros"].items():
        if uid.endswith("changed_keys_only") or uid.endswith("incremental_by_key"):
            macro["macro_sql"] += "\n-- and where true"
            macro["macro_sql"] = macro["macro_sql"].replace("_loaded_at >", "_loaded_at >=")
    orders = next(n for n in changed["nodes"].values() if n["name"] == "stg_sales__orders")
    assert "macro.kpi_warehouse.changed_keys_only" in orders["depends_on"]["macros"]

    assert fingerprints.problems(recorded, fingerprints.compute(changed)) == []


def test_the_warehouse_file_name_is_not_part_of_a_fingerprint():
    # dbt names the database after the warehouse file (KPI_WAREHOUSE_PATH); a developer
    # whose warehouse is prod.duckdb parses the same definitions.
    manifest = fingerprints.load_manifest()
    recorded = fingerprints.compute(manifest)
    renamed = copy.deepcopy(manifest)
    semantic_models = renamed["semantic_models"].values()
    assert any(m["node_relation"]["relation_name"] for m in semantic_models)
    for model in semantic_models:
        relation = model["node_relation"]
        old = relation["database"]
        relation["database"] = "prod"
        relation["relation_name"] = relation["relation_name"].replace(f'"{old}"', '"prod"')
    assert fingerprints.compute(renamed) == recorded
    # The schema and table a semantic model reads still are.
    for model in semantic_models:
        model["node_relation"]["alias"] += "_v2"
    assert fingerprints.problems(recorded, fingerprints.compute(renamed))
