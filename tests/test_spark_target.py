"""The same dbt project on Spark (dbt-spark's session method, a local pyspark).

Slow (two Spark sessions start, every model is a Spark job) and it needs the ``spark``
extra and Java 17, so it runs only when asked: ``KPI_TEST_SPARK=1 pytest -m spark``.
A tiny demo data set is built on DuckDB, its raw tables are exported as Parquet and
registered in Spark, the project is built there, and Spark's kpi.kpi_values (Parquet
files under the Spark warehouse folder) must equal DuckDB's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.engines.spark import export_raw_parquet
from orchestration.ingestion.extract import connect, extract_all
from tests.conftest import DBT_DIR, dbt
from tests.kpi_compare import kpi_value_differences

pytestmark = [
    pytest.mark.slow,
    pytest.mark.spark,
    pytest.mark.skipif(
        os.environ.get("KPI_TEST_SPARK") != "1",
        reason="builds on a local Spark for minutes; set KPI_TEST_SPARK=1 (needs .[spark], Java)",
    ),
]

BIN = Path(sys.executable).parent


def _spark_dbt(args: list[str], work: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "KPI_DBT_TARGET": "spark",
        "KPI_SPARK_DIR": str(work / "spark"),
        "KPI_SPARK_MASTER": "local[2]",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    return subprocess.run(
        [
            str(BIN / "dbt"),
            *args,
            "--project-dir",
            str(DBT_DIR),
            "--profiles-dir",
            str(DBT_DIR),
            "--target-path",
            str(work / "target"),
            "--log-path",
            str(work / "logs"),
        ],
        cwd=DBT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )


def test_kpi_values_are_equal_on_duckdb_and_spark(tmp_path):
    pytest.importorskip("pyspark", reason="pip install -e '.[spark]' first")
    from orchestration.demo.generator import generate

    generate(tmp_path / "landing", scale=0.01, seed=8)
    warehouse = tmp_path / "warehouse.duckdb"
    con = connect(warehouse)
    extract_all(con, tmp_path / "landing")
    con.close()
    dbt(["build", "--exclude-resource-type", "unit_test"], warehouse)
    export_raw_parquet(warehouse, tmp_path / "raw")

    register = _spark_dbt(
        ["run-operation", "register_raw_tables", "--args", f"{{root: {tmp_path / 'raw'}}}"],
        tmp_path,
    )
    assert register.returncode == 0, register.stdout[-4000:]
    build = _spark_dbt(["build", "--exclude-resource-type", "unit_test"], tmp_path)
    assert build.returncode == 0, build.stdout[-6000:]
    summary = next(line for line in build.stdout.splitlines() if "Done. PASS=" in line)
    assert "ERROR=0" in summary, summary

    spark_values = tmp_path / "spark" / "warehouse" / "kpi.db" / "kpi_values"
    local = duckdb.connect()
    try:
        theirs = local.execute(f"select * from read_parquet('{spark_values}/*.parquet')").df()
    finally:
        local.close()
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        mine = con.execute("select * from kpi.kpi_values").df()
    finally:
        con.close()
    assert len(mine) == len(theirs) > 1_000
    differences = kpi_value_differences(mine, theirs)
    assert differences == [], differences[:10]
