"""The kpi tables Python writes (kpi_quality, kpi_alerts) against their dbt declaration.

The real writers run on a small hand-made DuckDB warehouse: one KPI over six months,
red, red, green, green, red, red. With raise_after 2 and clear_after 2 that is two alerts:
one raised in February and cleared in April (February and the green March alerting),
one raised in June and open. The declared data tests then run through the real
``dbt test`` of the Dagster checks, on the tables as written and on tampered copies.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_dbt import DbtCliResource

from expectations.quality_state import write_kpi_quality
from orchestration.keys import KPI_ALERTS_KEY
from orchestration.kpis.project import dbt_project, warehouse_target_path
from orchestration.kpis.python_sources import (
    build_source_tests_check,
    check_declared_columns,
    declared_columns,
    written_columns,
)
from orchestration.operations import alerts as al
from orchestration.operations.assets import build_alerts_asset
from orchestration.operations.config import OperationsConfig
from orchestration.quality.assets import KPI_QUALITY_KEY
from orchestration.resources import WarehouseResource

# Every test here runs the writers and dbt test through Dagster: not the fast tier.
pytestmark = pytest.mark.slow

MONTHS = [date(2026, m, 1) for m in range(1, 8)]
STATUSES = ["red", "red", "green", "green", "red", "red"]


def _write_inputs(path: Path) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema kpi")
        con.execute("create schema marts")
        con.execute(
            "create table kpi.kpi_definitions as select 'revenue' as kpi_id, "
            "'Net revenue' as name, 'VP Sales' as owner, 'usd' as unit, "
            "'financial' as perspective, 'monthly' as review_cadence, "
            "'sales.orders' as source_entities, true as is_current"
        )
        con.execute(
            "create table marts.dim_calendar (grain varchar, period_start date, period_end date)"
        )
        con.executemany(
            "insert into marts.dim_calendar values ('month', ?, ?)",
            [[MONTHS[i], MONTHS[i + 1]] for i in range(6)],
        )
        con.execute(
            "create table kpi.kpi_values (kpi_id varchar, grain varchar, period_start date, "
            "period_end date, is_complete boolean, dimension varchar, dimension_value varchar, "
            "value double, target double, status varchar)"
        )
        con.executemany(
            "insert into kpi.kpi_values values "
            "('revenue', 'month', ?, ?, true, 'all', 'all', ?, 100, ?)",
            [
                [MONTHS[i], MONTHS[i + 1], 80.0 if s == "red" else 120.0, s]
                for i, s in enumerate(STATUSES)
            ],
        )
    finally:
        con.close()


def _resources(warehouse: Path) -> dict:
    return {
        "warehouse": WarehouseResource(
            path=str(warehouse), published_path=str(warehouse.with_suffix(".pub"))
        ),
        "dbt": DbtCliResource(project_dir=dbt_project),
    }


def _run(warehouse: Path, rules: Path, selection=None) -> dg.ExecuteInProcessResult:
    config = replace(OperationsConfig.from_env(), alert_rules_path=rules)
    return dg.materialize(
        [build_alerts_asset(config), build_source_tests_check()],
        selection=selection,
        resources=_resources(warehouse),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def _failed(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    return {
        c.check_name: c.asset_key.path[-1]
        for c in result.get_asset_check_evaluations()
        if not c.passed
    }


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("python_sources")
    warehouse = root / "warehouse.duckdb"
    _write_inputs(warehouse)
    rules = root / "rules.yml"
    rules.write_text("defaults:\n  statuses: [red]\n  raise_after: 2\n  clear_after: 2\n")
    con = duckdb.connect(str(warehouse))
    try:
        write_kpi_quality(con, [])
    finally:
        con.close()
    result = _run(warehouse, rules)
    assert result.success
    return {"warehouse": warehouse, "rules": rules, "result": result}


def test_the_writers_create_exactly_the_declared_columns(written):
    con = duckdb.connect(str(written["warehouse"]), read_only=True)
    try:
        for table in ("kpi_quality", "kpi_alerts"):
            assert written_columns(con, "kpi", table) == declared_columns(table), table
            check_declared_columns(con, table)
        alerts = al.read_alerts(con)
        quality = con.execute(
            "select period_start, quality_state from kpi.kpi_quality order by 1"
        ).fetchall()
    finally:
        con.close()
    # The writer's own list is the declaration, name for name and type for type.
    assert declared_columns("kpi_alerts") == [(n, t.lower()) for n, t in al.ALERT_COLUMNS]
    assert quality == [(m, "passed") for m in MONTHS[:6]]
    assert [
        (a["state"], a["raised_period_start"], a["cleared_period_start"], a["periods_alerting"])
        for a in alerts
    ] == [
        ("cleared", date(2026, 2, 1), date(2026, 4, 1), 2),
        ("open", date(2026, 6, 1), None, 1),
    ]


def test_a_column_the_declaration_does_not_know_fails_the_check(written, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(written["warehouse"], warehouse)
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("alter table kpi.kpi_quality add column note varchar")
        con.execute("alter table kpi.kpi_alerts alter column raise_after type bigint")
        with pytest.raises(dg.Failure, match="note is not declared"):
            check_declared_columns(con, "kpi_quality")
        with pytest.raises(dg.Failure, match="raise_after is bigint, declared integer"):
            check_declared_columns(con, "kpi_alerts")
    finally:
        con.close()


def test_the_declared_data_tests_run_as_blocking_checks(written, tmp_path):
    after_writing = {c.check_name for c in written["result"].get_asset_check_evaluations()}
    assert "source_accepted_values_kpi_python_kpi_alerts_state__open__cleared" in after_writing
    assert not _failed(written["result"])
    # dbt ran in this process and left the warehouse closed: the next step may open it
    # with settings of its own (DuckDB refuses a second configuration of an open file).
    duckdb.connect(str(written["warehouse"]), config={"memory_limit": "64MB"}).close()

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(written["warehouse"], warehouse)
    checks_only = dg.AssetSelection.checks_for_assets(KPI_ALERTS_KEY, KPI_QUALITY_KEY)
    result = _run(warehouse, written["rules"], selection=checks_only)
    assert {c.asset_key for c in result.get_asset_check_evaluations()} == {
        KPI_ALERTS_KEY,
        KPI_QUALITY_KEY,
    }
    assert not _failed(result)

    con = duckdb.connect(str(warehouse))
    try:
        con.execute("update kpi.kpi_alerts set state = 'closed' where state = 'cleared'")
        con.execute("insert into kpi.kpi_quality select * from kpi.kpi_quality limit 1")
    finally:
        con.close()
    result = _run(warehouse, written["rules"], selection=checks_only)
    assert _failed(result) == {
        "source_accepted_values_kpi_python_kpi_alerts_state__open__cleared": "kpi_alerts",
        "source_unique_combination_kpi_python_kpi_quality_kpi_id__grain__period_start": (
            "kpi_quality"
        ),
    }
    # The results come from dbt's structured log: the process writes no run_results.json.
    duplicate = next(
        c
        for c in result.get_asset_check_evaluations()
        if c.check_name.startswith("source_unique_combination_kpi_python_kpi_quality")
    )
    assert duplicate.metadata["failures"].value == 1
    assert "It ended 'fail': Got 1 result, configured to fail if != 0" in duplicate.description
    target = dbt_project.project_dir / warehouse_target_path(str(warehouse))
    assert (target / "partial_parse.msgpack").exists()
    assert not (target / "run_results.json").exists()
    assert not (target / "manifest.json").exists()
