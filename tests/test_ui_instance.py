"""After `kpi-warehouse demo`, the Dagster UI's instance holds what the demo did.

The demo runs as a user runs it (a subprocess) with DAGSTER_HOME pointing at a fresh
folder; the instance is then opened from that folder, as `kpi-warehouse ui` opens it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from orchestration.keys import PUBLISHED_KPI_KEY, raw_asset_key

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "orchestration.cli"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    home = root / "dagster_home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPI_")}
    env.update({"DAGSTER_HOME": str(home), "KPI_GX_DIR": str(root / "gx")})
    result = subprocess.run(
        [*CLI, "demo", "--scale", "0.02", "--dir", str(root / "out")],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return home, result


@pytest.fixture(scope="module")
def instance(demo):
    home, _ = demo
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


def test_the_demo_tells_the_ui_where_its_runs_are(demo):
    home, result = demo
    (ui_line,) = [line for line in result.stdout.splitlines() if line.startswith("Dagster UI:")]
    assert f"DAGSTER_HOME={home}" in ui_line
    # The same instance settings the UI writes: one warehouse run at a time.
    assert "max_concurrent_runs: 1" in (home / "dagster.yaml").read_text()


def test_the_ui_instance_holds_the_demo_run(instance):
    runs = instance.get_runs()
    assert [(r.job_name, r.status) for r in runs] == [("kpi_pipeline", dg.DagsterRunStatus.SUCCESS)]


def test_the_ui_instance_holds_materializations_with_their_metadata(instance):
    raw = instance.get_latest_materialization_event(raw_asset_key("sales", "orders"))
    assert raw is not None
    assert raw.asset_materialization.metadata["dagster/row_count"].value > 0
    kpi = instance.get_latest_materialization_event(dg.AssetKey(["kpi", "kpi_values"]))
    assert kpi is not None
    published = instance.get_latest_materialization_event(PUBLISHED_KPI_KEY)
    assert published is not None
    metadata = published.asset_materialization.metadata
    assert Path(metadata["path"].value).name == "warehouse.published.duckdb"
    assert len(instance.get_asset_keys()) > 60


def _check_history(instance, asset: list[str], check: str):
    key = dg.AssetCheckKey(dg.AssetKey(asset), check)
    return instance.event_log_storage.get_asset_check_execution_history(key, limit=5)


def test_the_ui_instance_holds_the_check_results(instance):
    from dagster._core.storage.asset_check_execution_record import (
        AssetCheckExecutionRecordStatus,
    )

    # A Great Expectations rule, a dbt test and a landing check: evaluated once, passed.
    for asset, check in [
        (["kpi", "kpi_values"], "calendar_complete"),
        (["kpi", "kpi_values"], "not_null_kpi_values_kpi_id"),
        (["raw", "sales", "orders"], "no_broken_delivery"),
    ]:
        history = _check_history(instance, asset, check)
        assert [r.status for r in history] == [AssetCheckExecutionRecordStatus.SUCCEEDED], (
            asset,
            check,
        )


def test_the_ui_offers_exactly_the_months_that_render(demo, instance):
    from orchestration.keys import SCORECARD_MONTHS
    from reports.scorecard import latest_complete_month

    _, result = demo
    published = Path(result.stdout.strip().splitlines()[-2].removeprefix("published: "))
    months = instance.get_dynamic_partitions(SCORECARD_MONTHS)
    # The demo's data starts in September 2024; the month still loading is not offered.
    assert months[0] == "2024-09"
    assert months[-1] == latest_complete_month(published)
    assert len(months) == len(set(months)) >= 12


def test_runs_started_together_on_a_fresh_instance_folder_all_open_it(tmp_path):
    # Two warehouses run at once from a fresh checkout both create the instance's SQLite
    # storage; unserialised, one of them fails on Dagster's schema-version row.
    home = tmp_path / "dagster_home"
    code = (
        "import sys; from pathlib import Path;"
        "from orchestration.operations.instance import open_instance;"
        "print(len(open_instance(Path(sys.argv[1])).get_runs(limit=1)))"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(home)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-4000:]
        assert out.strip() == "0"
