"""The history step runs ``dbt build`` inside the run's own process.

A warehouse built by the real command; then the history step alone, through Dagster, as
a run's step does it: its models come back as materializations with their row counts,
its dbt tests as asset checks, and a model that fails stops the step with dbt's message.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.kpis.assets import kpi_history_models
from orchestration.kpis.project import WarehouseDbtCli, dbt_project
from orchestration.resources import WarehouseResource
from tests.conftest import run_on_demo_data

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    return run_on_demo_data(tmp_path_factory.mktemp("history_step"), scale=0.02, seed=3)[0]


def _history_step(path: Path) -> tuple[dg.ExecuteInProcessResult, list[str]]:
    """The step's result and what it logged."""
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [kpi_history_models],
        resources={
            "warehouse": WarehouseResource(
                path=str(path), published_path=str(path.with_suffix(".pub"))
            ),
            "dbt": WarehouseDbtCli(project_dir=dbt_project),
        },
        instance=instance,
        raise_on_error=False,
    )
    return result, [entry.user_message or "" for entry in instance.all_logs(result.run_id)]


def test_the_history_models_are_built_in_the_step_with_their_checks(warehouse, capsys):
    result, logged = _history_step(warehouse)
    assert result.success
    # dbt's lines, as a dbt process printed them.
    assert "Completed successfully" in capsys.readouterr().out
    built = {
        m.asset_key.to_user_string(): m.metadata
        for m in result.get_asset_materialization_events()
        for m in [m.materialization]
    }
    assert {"history/kpi_values_history", "kpi/kpi_values_reported"} <= set(built)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute("select count(*) from kpi.kpi_values_reported").fetchone()[0]
    finally:
        con.close()
    assert rows > 0
    assert built["kpi/kpi_values_reported"]["dagster/row_count"].value == rows
    checks = result.get_asset_check_evaluations()
    assert any(c.asset_key.to_user_string() == "kpi/kpi_values_reported" for c in checks)
    assert checks and all(c.passed for c in checks)
    assert any(line.startswith("dbt in this process ran ") for line in logged)
    # dbt let go of the warehouse: another connection may open it with its own settings.
    duckdb.connect(str(warehouse), config={"memory_limit": "64MB"}).close()


def test_a_failing_model_fails_the_step_with_dbts_message(warehouse, tmp_path):
    broken = tmp_path / "warehouse.duckdb"
    broken.write_bytes(warehouse.read_bytes())
    con = duckdb.connect(str(broken))
    try:
        con.execute("drop table kpi.kpi_values")
    finally:
        con.close()
    result, _ = _history_step(broken)
    assert not result.success
    # The step is retried once (a warehouse still locked is the transient case), and
    # fails the same way each time.
    failures = [
        e.event_specific_data.error.to_string()
        for e in result.all_events
        if e.event_type_value in ("STEP_UP_FOR_RETRY", "STEP_FAILURE")
    ]
    assert len(failures) == 2
    for failure in failures:
        assert (
            "dbt build of kpi_history_models failed: Runtime Error in snapshot "
            "kpi_values_history (snapshots/kpi_values_history.sql) Catalog Error: Table with "
            "name kpi_values does not exist!"
        ) in failure
    # Nothing was built, so nothing is reported as materialized.
    assert not result.get_asset_materialization_events()
