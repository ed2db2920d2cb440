"""Shared fixtures: real DuckDB files, real dbt, real Dagster runs; nothing mocked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DBT_DIR = ROOT / "dbt_project"
BIN = Path(sys.executable).parent


def dbt(args: list[str], warehouse: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run the dbt CLI of this environment on the project against ``warehouse``."""
    env = {
        **os.environ,
        "KPI_WAREHOUSE_PATH": str(warehouse),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    result = subprocess.run(
        [str(BIN / "dbt"), *args, "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR)],
        cwd=DBT_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"dbt {' '.join(args)} failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
        )
    return result


@pytest.fixture(scope="session", autouse=True)
def _dagster_home(tmp_path_factory):
    """Runs the tests start are recorded in a throwaway instance, never the project's var/."""
    home = tmp_path_factory.mktemp("dagster_home")
    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("DAGSTER_HOME", None)
    else:
        os.environ["DAGSTER_HOME"] = previous


@pytest.fixture(scope="session")
def empty_warehouse(tmp_path_factory) -> Path:
    """A warehouse with every raw table and every dbt model built empty (for unit tests)."""
    from orchestration.ingestion.extract import connect, ensure_schema

    path = tmp_path_factory.mktemp("empty_warehouse") / "warehouse.duckdb"
    con = connect(path)
    ensure_schema(con)
    con.close()
    dbt(["run", "--empty"], path)
    # The history snapshot too: unit tests of the models reading it need its columns.
    dbt(["snapshot", "--empty"], path)
    return path
