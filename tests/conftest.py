"""Shared fixtures: real DuckDB files, real dbt, real Dagster runs; nothing mocked."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DBT_DIR = ROOT / "dbt_project"
BIN = Path(sys.executable).parent


# Files that share the PostgreSQL test database run on one worker, one after the other.
POSTGRES_FILES = {"test_connectors.py", "test_postgres_target.py"}


def dbt_target_path() -> Path:
    """This test process's own dbt target folder (relative to the project).

    The project's ``target/manifest.json`` is what every pipeline run loads its Dagster
    definitions from; a test's dbt command writing it while a run on another worker reads
    it would hand that run half a file.
    """
    return Path("target") / f"pytest-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


def dbt(args: list[str], warehouse: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run the dbt CLI of this environment on the project against ``warehouse``."""
    env = {
        **os.environ,
        "KPI_WAREHOUSE_PATH": str(warehouse),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    result = subprocess.run(
        [str(BIN / "dbt"), *args, "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR)]
        + ["--target-path", str(dbt_target_path())],
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


def run_on_demo_data(root: Path, scale: float, seed: int) -> tuple[Path, str]:
    """``kpi-warehouse run`` on demo data generated into ``root``: the warehouse it built
    and the command's output."""
    from orchestration.demo.generator import generate

    generate(root / "landing", scale=scale, seed=seed)
    warehouse = root / "warehouse.duckdb"
    result = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "run", "--landing-dir", str(root / "landing"),
         "--warehouse", str(warehouse)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    return warehouse, result.stdout


def pytest_configure(config):
    # Parse the dbt project once, before the workers start, so no two of them parse it at
    # once (a fresh clone has no manifest).
    if "PYTEST_XDIST_WORKER" not in os.environ:
        from orchestration.kpis.project import ensure_manifest

        ensure_manifest()


def xdist_group_of(path: Path) -> str:
    """The xdist group of the tests in the file at ``path``."""
    return "postgres" if path.name in POSTGRES_FILES else path.name


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    # With `--dist loadgroup` each group runs whole on one worker: a file's module fixtures
    # (a built warehouse) are built once, and the PostgreSQL files never overlap. First,
    # because xdist's worker reads the marks in this same hook to name each test's group;
    # marks added after it are ignored and the tests spread across workers.
    for item in items:
        item.add_marker(pytest.mark.xdist_group(xdist_group_of(item.path)))


@contextlib.contextmanager
def _session_folder(tmp_path_factory, variable: str, name: str):
    """A fresh folder named by ``variable`` in the environment for the whole session."""
    folder = tmp_path_factory.mktemp(name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(variable, str(folder))
        yield folder


@pytest.fixture(scope="session", autouse=True)
def _gx_dir(tmp_path_factory):
    """Great Expectations' folder of this test process: runs on two workers at once would
    otherwise share the project's var/gx and trip over each other's checkpoint files."""
    with _session_folder(tmp_path_factory, "KPI_GX_DIR", "gx") as folder:
        yield folder


@pytest.fixture(scope="session", autouse=True)
def _dagster_home(tmp_path_factory):
    """Runs the tests start are recorded in a throwaway instance, never the project's var/."""
    with _session_folder(tmp_path_factory, "DAGSTER_HOME", "dagster_home") as home:
        yield home


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
