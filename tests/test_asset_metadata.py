"""What the Dagster UI shows about each table: code, columns, freshness."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from expectations.contract import ENTITIES
from orchestration.definitions import defs
from orchestration.ingestion.extract import METADATA_COLUMNS
from orchestration.keys import raw_asset_key


@pytest.fixture(scope="module")
def specs() -> dict[dg.AssetKey, dg.AssetSpec]:
    found = {}
    for assets_def in defs.resolve_all_asset_specs():
        found[assets_def.key] = assets_def
    return found


def _dbt_models(specs):
    return {k: s for k, s in specs.items() if "dagster_dbt/unique_id" in s.metadata}


def test_every_dbt_model_links_to_its_sql_file(specs):
    models = _dbt_models(specs)
    assert len(models) > 50
    for key, spec in models.items():
        references = spec.metadata["dagster/code_references"].code_references
        paths = [Path(r.file_path) for r in references]
        assert paths and all(p.suffix == ".sql" and p.exists() for p in paths), key
        assert paths[0].stem == key.path[-1], key


def test_the_kpi_tables_carry_their_documented_column_schema(specs):
    schema = specs[dg.AssetKey(["kpi", "kpi_values"])].metadata["dagster/column_schema"]
    columns = {c.name: c for c in schema.columns}
    assert {"kpi_id", "grain", "period_start", "value", "status"} <= set(columns)
    assert columns["value"].description.startswith("numerator")
    assert columns["numerator"].type.startswith("double")


def test_every_model_and_raw_table_states_the_daily_freshness(specs):
    tables = list(_dbt_models(specs)) + [raw_asset_key(e.system, e.name) for e in ENTITIES]
    for key in tables:
        policy = specs[key].freshness_policy
        assert policy is not None, key
        assert policy.fail_window.to_timedelta() == timedelta(hours=26), key
        assert policy.warn_window.to_timedelta() == timedelta(hours=25), key


def test_raw_assets_carry_the_contract_schema_and_their_code(specs):
    for entity in ENTITIES:
        spec = specs[raw_asset_key(entity.system, entity.name)]
        schema = spec.metadata["dagster/column_schema"]
        assert [(c.name, c.type) for c in schema.columns] == [
            (c.name, c.sql_type) for c in entity.columns
        ] + list(METADATA_COLUMNS)
        for column, contract in zip(schema.columns, entity.columns, strict=False):
            assert column.constraints.nullable == (contract.presence == "opt"), column.name
            for value in contract.values:
                assert value in column.description, (column.name, value)
        references = spec.metadata["dagster/code_references"].code_references
        assert any(r.file_path.endswith("ingestion/assets.py") for r in references)


def test_owners_name_the_maintainers_and_the_kpi_its_accountable_owner(specs):
    revenue = specs[dg.AssetKey(["marts", "fct_kpi_revenue"])]
    # Dagster's owners are the team that maintains the model; who answers for the number
    # is the registry's owner, one metadata row.
    assert list(revenue.owners) == ["team:analytics-engineering"]
    assert revenue.metadata["accountable owner"] == "VP Sales"
    margin = specs[dg.AssetKey(["marts", "fct_kpi_gross_margin_rate"])]
    assert margin.metadata["accountable owner"] == "Chief Financial Officer"
    assert "accountable owner" not in specs[dg.AssetKey(["kpi", "kpi_values"])].metadata
    # Every column of a KPI's fact is documented (the registry's YAML anchor).
    schema = revenue.metadata["dagster/column_schema"]
    assert {c.name for c in schema.columns} == {
        "grain", "period_start", "dimension", "dimension_value", "numerator", "denominator",
    }  # fmt: skip
    assert all(c.description for c in schema.columns)
