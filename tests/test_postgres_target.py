"""The same dbt project on PostgreSQL: from the same raw tables, the same KPI values.

A small demo data set is extracted into DuckDB and built there with dbt; its raw_*
schemas are copied into a fresh PostgreSQL database and the project is built again
with ``--target postgres`` (models, data tests and unit tests). Both ``kpi`` schemas
must hold the same rows: equal keys and texts, floats within 1e-9 relative.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration.engines.postgres import copy_raw_schemas
from orchestration.ingestion.extract import connect, extract_all
from tests.conftest import DBT_DIR, dbt
from tests.kpi_compare import kpi_value_differences
from tests.postgres_helpers import fresh_database

# Builds the whole project twice (DuckDB and PostgreSQL): the full suite, not the fast tier.
pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def duckdb_warehouse(tmp_path_factory) -> Path:
    from orchestration.demo.generator import generate

    root = tmp_path_factory.mktemp("pg_target")
    generate(root / "landing", scale=0.02, seed=21)
    warehouse = root / "warehouse.duckdb"
    con = connect(warehouse)
    extract_all(con, root / "landing")
    con.close()
    dbt(["build", "--exclude-resource-type", "unit_test"], warehouse)
    return warehouse


@pytest.fixture(scope="module")
def postgres_warehouse(duckdb_warehouse, tmp_path_factory):
    from psycopg.conninfo import conninfo_to_dict

    with fresh_database("kpi_wh") as dsn:
        copied = copy_raw_schemas(duckdb_warehouse, dsn)
        assert copied["raw_sales.orders"] > 0
        params = conninfo_to_dict(dsn)
        work = tmp_path_factory.mktemp("dbt_postgres")
        env = {
            **os.environ,
            "KPI_DBT_TARGET": "postgres",
            "KPI_PG_HOST": str(params.get("host", "127.0.0.1")),
            "KPI_PG_PORT": str(params.get("port", 5432)),
            "KPI_PG_USER": str(params["user"]),
            "KPI_PG_PASSWORD": str(params.get("password", "")),
            "KPI_PG_DBNAME": str(params["dbname"]),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        # Its own target and log folders: the DuckDB manifest and partial-parse state
        # in dbt_project/target stay as the other tests and Dagster left them.
        folders = ["--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR)]
        folders += ["--target-path", str(work / "target"), "--log-path", str(work / "logs")]

        def dbt_build(*selection: str) -> subprocess.CompletedProcess:
            done = subprocess.run(
                [str(BIN / "dbt"), "build", *selection, *folders],
                cwd=DBT_DIR,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
            return done

        build = dbt_build()
        # Once more from the order facts on: their incremental branch and that of their
        # aggregates, by period, run on PostgreSQL too (without the pipeline's build record
        # they recompute every order and period), and what the tests below compare is
        # what they left.
        again = dbt_build("--select", "fct_orders+")
        assert "incremental model marts.fct_kpi_revenue" in again.stdout
        yield dsn, build.stdout


def _duckdb_frame(path: Path, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def _postgres_frame(dsn: str, sql: str) -> pd.DataFrame:
    import psycopg

    with psycopg.connect(dsn) as con:
        cur = con.execute(sql)
        return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])


def test_the_whole_project_builds_and_tests_on_postgres(postgres_warehouse):
    _, output = postgres_warehouse
    summary = next(line for line in output.splitlines() if "Done. PASS=" in line)
    assert "ERROR=0" in summary and "WARN=0" in summary, summary


def test_kpi_values_are_equal_on_duckdb_and_postgres(duckdb_warehouse, postgres_warehouse):
    dsn, _ = postgres_warehouse
    sql = "select * from kpi.kpi_values"
    mine = _duckdb_frame(duckdb_warehouse, sql)
    theirs = _postgres_frame(dsn, sql)
    assert len(mine) == len(theirs) > 10_000
    assert list(mine.columns) == list(theirs.columns)
    differences = kpi_value_differences(mine, theirs)
    assert differences == [], differences[:10]
    # Not a comparison of two empty tables: the KPIs carry values, in every status.
    assert mine["value"].notna().sum() > 1_000
    assert set(mine["status"]) >= {"green", "amber", "red", "no_data"}


def test_kpi_definitions_are_equal_on_duckdb_and_postgres(duckdb_warehouse, postgres_warehouse):
    dsn, _ = postgres_warehouse
    sql = "select * from kpi.kpi_definitions order by kpi_id, definition_version"
    mine = _duckdb_frame(duckdb_warehouse, sql)
    theirs = _postgres_frame(dsn, sql)
    mine["effective_from"] = pd.to_datetime(mine["effective_from"]).dt.date
    assert mine.astype(object).where(mine.notna(), None).values.tolist() == (
        theirs.astype(object).where(theirs.notna(), None).values.tolist()
    )
