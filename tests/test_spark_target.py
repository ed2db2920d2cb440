"""The same dbt project on Spark (dbt-spark's session method, a local pyspark).

Slow (two Spark sessions start, every model is a Spark job) and it needs Java 17 and an
environment with the ``spark`` extra, so it runs only when asked: ``make test-spark``, or
``KPI_TEST_SPARK=1 pytest tests/test_spark_target.py``; CI runs it (.ci/spark.sh).
A tiny demo data set is built on DuckDB, its raw tables are exported as Parquet and
registered in Spark, the project is built there, and Spark's kpi.kpi_values (Parquet
files under the Spark warehouse folder) must equal DuckDB's on every row.

dbt on Spark runs from its own virtual environment, ``KPI_SPARK_VENV`` (``make
spark-env`` makes ``.venv-spark``), as a subprocess: with pyspark beside Great
Expectations, importing GX ended processes started without a script file.
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
from tests.conftest import DBT_DIR, ROOT, dbt
from tests.kpi_compare import kpi_value_differences

pytestmark = [
    pytest.mark.slow,
    pytest.mark.spark,
    pytest.mark.skipif(
        os.environ.get("KPI_TEST_SPARK") != "1",
        reason="builds on a local Spark for minutes; set KPI_TEST_SPARK=1 (make test-spark)",
    ),
]


def _spark_bin() -> Path:
    """The bin folder of the environment that holds dbt-spark."""
    venv = os.environ.get("KPI_SPARK_VENV")
    if venv:
        return (ROOT / venv / "bin").resolve()
    default = ROOT / ".venv-spark"
    return (default if default.exists() else Path(sys.prefix)) / "bin"


BIN = _spark_bin()


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


def test_the_spark_environment_has_dbt_spark_and_no_great_expectations():
    assert (BIN / "dbt").exists(), f"no dbt in {BIN.parent}: run make spark-env"
    probe = subprocess.run(
        [
            str(BIN / "python"),
            "-c",
            "import importlib.util as u; "
            "print(*(u.find_spec(m) is not None for m in ('pyspark', 'dbt.adapters.spark', "
            "'great_expectations')))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.split() == ["True", "True", "False"], probe.stdout


def test_kpi_values_are_equal_on_duckdb_and_spark(tmp_path):
    assert (BIN / "dbt").exists(), f"no dbt in {BIN.parent}: run make spark-env"
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
    # kpi_values and everything it is computed from. The history of published values and
    # what derives from it (a snapshot, restatements) need the pipeline's ingest tables and a
    # table format with MERGE, which a plain Parquet session warehouse does not have.
    build = _spark_dbt(
        # Cautious: a test between kpi_values' upstream and a model outside it (e.g. a
        # relationship from kpi_projections to kpi_definitions) is not built here.
        ["build", "--select", "+kpi_values", "--indirect-selection", "cautious"]
        + ["--exclude-resource-type", "unit_test"],
        tmp_path,
    )
    assert build.returncode == 0, build.stdout[-6000:]
    summary = next(line for line in build.stdout.splitlines() if "Done. PASS=" in line)
    assert "ERROR=0" in summary, summary

    spark_values = tmp_path / "spark" / "warehouse" / "kpi.db" / "kpi_values"
    con = duckdb.connect()
    try:
        con.execute(f"attach '{warehouse}' as duck (read_only)")
        columns = ", ".join(
            f'"{name}"'
            for (name,) in con.execute(
                "select column_name from duckdb_columns() where database_name = 'duck' "
                "and schema_name = 'kpi' and table_name = 'kpi_values' order by column_index"
            ).fetchall()
        )
        mine_sql = f"select {columns} from duck.kpi.kpi_values"
        theirs_sql = f"select {columns} from read_parquet('{spark_values}/*.parquet')"
        mine = con.execute(mine_sql).df()
        theirs = con.execute(theirs_sql).df()
        # Readable differences first (key, column, both values), then bit for bit: money
        # is DECIMAL until the last division, so the doubles must come out identical.
        differences = kpi_value_differences(mine, theirs)
        assert differences == [], differences[:10]
        unmatched = con.execute(
            f"select (select count(*) from ({mine_sql} except all {theirs_sql})), "
            f"(select count(*) from ({theirs_sql} except all {mine_sql}))"
        ).fetchone()
    finally:
        con.close()
    assert len(mine) == len(theirs) > 1_000
    assert unmatched == (0, 0), f"rows only on DuckDB, only on Spark: {unmatched}"
