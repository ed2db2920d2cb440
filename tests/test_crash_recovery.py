"""``kpi-warehouse run`` killed with SIGKILL at every step; the next run repairs everything.

Warehouse A runs once, never interrupted, on the whole landing data. Warehouse B is built
on all of it but the last day, then the last day arrives and B's runs are killed one
after the other, each at a later step (held there by ``KPI_TEST_PAUSE_AT``, see
orchestration/crash_points.py, so the kill lands at a known point and not after a
sleep): inside an extract transaction, in the quality rules, in the middle of the dbt
build, inside the alerts transaction, and in the middle of the publication. After each
kill the published DuckDB file and Parquet folder are each a whole publication, the
previous one until the publication's first swap. Then one more run, started as usual,
must succeed and leave B's KPI values identical to A's, with no temporary file and no
process of the killed runs left.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pandas as pd
import psutil
import pytest

from orchestration.publish.copy import parquet_root_for
from orchestration.warehouse_lock import lock_path_for
from tests.test_published_copy import _split_by_day

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "orchestration.cli"]
# In the order a run reaches them.
KILL_POINTS = ["extract", "quality", "dbt", "alerts", "publish-switch"]
# Before the first swap of a publication the previous copy is untouched, byte for byte.
BEFORE_PUBLISH = {"extract", "quality", "dbt", "alerts"}


def _env(warehouse: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPI_")}
    # Great Expectations' folder is shared by every warehouse unless set (runs on two
    # warehouses at once would trip over each other's checkpoint files). Both warehouses
    # record their runs in one fresh Dagster instance, as two runs from a new checkout do.
    return {
        **env,
        "KPI_GX_DIR": str(warehouse.parent / "gx"),
        "DAGSTER_HOME": str(warehouse.parent.parent / "dagster_home"),
        **extra,
    }


def _run_args(landing: Path, warehouse: Path) -> list[str]:
    return [*CLI, "run", "--landing-dir", str(landing), "--warehouse", str(warehouse)]


def _run(landing: Path, warehouse: Path) -> subprocess.Popen:
    return subprocess.Popen(
        _run_args(landing, warehouse),
        cwd=ROOT,
        env=_env(warehouse),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen) -> tuple[str, str]:
    out, err = process.communicate(timeout=900)
    assert process.returncode == 0, err[-4000:]
    return out, err


def run_until(
    landing: Path, warehouse: Path, point: str, timeout: float = 600, **env: str
) -> tuple[subprocess.Popen, list[str]]:
    """Start a run held at ``point``; the process once it is there, and its stderr lines."""
    process = subprocess.Popen(
        _run_args(landing, warehouse),
        cwd=ROOT,
        env=_env(warehouse, KPI_TEST_PAUSE_AT=point, **env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    # Everything the run prints, still growing after this returns (the pump drains the
    # pipe so a held run never blocks on a full one).
    everything: list[str] = []

    def pump() -> None:
        for line in process.stderr:
            everything.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.1))
        except queue.Empty:
            process.kill()
            pytest.fail(f"no pause at {point} within {timeout} s:\n{''.join(seen[-40:])}")
        if line is None:
            process.wait()
            pytest.fail(
                f"the run ended ({process.returncode}) before {point}:\n{''.join(seen[-40:])}"
            )
        seen.append(line)
        if line.startswith(f"pause point {point} reached"):
            return process, everything


def published_state(published: Path) -> tuple[str, str]:
    """The publication ids of the DuckDB copy and the Parquet folder, each checked whole."""
    con = duckdb.connect(str(published), read_only=True)
    try:
        manifest = con.execute(
            "select publication_id, table_name, row_count from meta.published_tables"
        ).fetchall()
        ids = {row[0] for row in manifest}
        assert len(ids) == 1, ids
        tables = {
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables where table_schema = 'kpi'"
            ).fetchall()
        }
        assert tables == {row[1] for row in manifest}
        for _, table, count in manifest:
            assert con.execute(f'select count(*) from kpi."{table}"').fetchone()[0] == count
    finally:
        con.close()
    folder = Path(os.path.realpath(parquet_root_for(published) / "current"))
    parquet = json.loads((folder / "manifest.json").read_text())
    assert parquet["tables"], parquet
    for table, count in parquet["tables"].items():
        rows = duckdb.sql(f"select count(*) from read_parquet('{folder / table}.parquet')")
        assert rows.fetchone()[0] == count, (folder, table)
    return ids.pop(), parquet["publication_id"]


def kpi_values(path: Path) -> pd.DataFrame:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("select * from kpi.kpi_values order by all").df()
    finally:
        con.close()


def leftovers(*folders: Path) -> list[Path]:
    found = []
    for folder in folders:
        found += [
            p
            for p in folder.rglob("*")
            if re.search(r"\.tmp\b", p.name) or p.name.endswith(".published.duckdb.wal")
        ]
    return found


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_run_killed_at_any_step_is_completed_by_the_next_one(tmp_path):
    from orchestration.demo.generator import generate

    full, landing = tmp_path / "full", tmp_path / "landing"
    generate(full, scale=0.02, seed=29)
    (last_day,) = _split_by_day(full, landing, held_days=1)
    wh_a = tmp_path / "a" / "warehouse.duckdb"
    wh_b = tmp_path / "b" / "warehouse.duckdb"
    published = wh_b.with_name("warehouse.published.duckdb")

    # A (never interrupted, on everything) and B's first run (without the last day) at once.
    run_a = _run(full, wh_a)
    _finish(_run(landing, wh_b))
    _finish(run_a)
    before = _sha256(published)
    first_ids = published_state(published)
    assert first_ids[0] == first_ids[1]

    for relative in last_day:
        target = landing / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(full / relative, target)

    killed: list[tuple[psutil.Process, str]] = []
    for point in KILL_POINTS:
        process, _ = run_until(landing, wh_b, point)
        children = psutil.Process(process.pid).children(recursive=True)
        killed += [(child, " ".join(_cmdline(child))) for child in children]
        process.send_signal(signal.SIGKILL)
        process.wait()
        duckdb_id, parquet_id = published_state(published)
        if point in BEFORE_PUBLISH:
            assert _sha256(published) == before, point
            assert (duckdb_id, parquet_id) == first_ids, point
        else:
            # Killed between the two swaps: the DuckDB copy is the new one, whole.
            assert duckdb_id != first_ids[0]
            assert parquet_id == first_ids[1]
    assert any(" build " in command for _, command in killed), "no dbt build was under way"

    out, err = _finish(_run(landing, wh_b))
    assert out.strip().splitlines()[-1] == f"published: {published}"
    # The dbt build of the run killed in dbt was stopped by the next run.
    assert not [c for c, _ in killed if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    duckdb_id, parquet_id = published_state(published)
    assert duckdb_id == parquet_id != first_ids[0]
    pd.testing.assert_frame_equal(kpi_values(wh_b), kpi_values(wh_a), check_exact=True)
    pd.testing.assert_frame_equal(kpi_values(published), kpi_values(wh_a), check_exact=True)
    assert leftovers(wh_b.parent, landing) == []
    assert lock_path_for(wh_b).read_text() == ""


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []
