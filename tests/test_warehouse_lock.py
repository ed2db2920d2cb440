"""The warehouse lock and the clean-up after a killed run, on real processes and files.

Fast companions of test_crash_recovery.py and test_single_writer.py: a holder process
killed with SIGKILL, a subprocess it left running, temporary files of a publication and
of a pull cut short, and a publication killed between its two swaps.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import psutil
import pytest

from orchestration import warehouse_lock
from orchestration.connectors.delivery import remove_orphan_temp_files
from orchestration.publish.copy import (
    complete_switch,
    parquet_root_for,
    publication_ids,
    publish_schema,
    remove_leftovers,
)

ROOT = Path(__file__).resolve().parent.parent

HOLDER = """
import subprocess, sys, time
from orchestration import warehouse_lock
warehouse_lock.acquire(sys.argv[1], command="kpi-warehouse run --landing-dir x")
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
warehouse_lock.record_child(sys.argv[1], child.pid)
print(child.pid, flush=True)
time.sleep(300)
"""


def _hold(warehouse: Path) -> tuple[subprocess.Popen, int]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(warehouse)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    child = int(holder.stdout.readline())
    return holder, child


def test_a_second_holder_is_refused_with_one_sentence_naming_the_first(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    holder, child = _hold(warehouse)
    try:
        with pytest.raises(warehouse_lock.WarehouseBusyError) as refused:
            warehouse_lock.acquire(warehouse)
        message = str(refused.value)
        assert message.startswith(
            f"The warehouse {warehouse} is in use by another run: process {holder.pid} "
            "(kpi-warehouse run --landing-dir x), started "
        )
        assert message.endswith("UTC; wait for it to finish or stop it, then run again.")
        assert "\n" not in message
        assert not warehouse_lock.holds(warehouse)
    finally:
        holder.kill()
        holder.wait()
        os.kill(child, signal.SIGKILL)


def test_after_a_kill_the_next_holder_stops_what_was_left_running(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    holder, child = _hold(warehouse)
    orphan = psutil.Process(child)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert orphan.is_running()
    # The kernel let go of the lock with the process: no stale lock to remove by hand.
    assert warehouse_lock.acquire(warehouse, command="next run")
    try:
        done = warehouse_lock.recover(warehouse, tmp_path / "warehouse.published.duckdb")
        assert done == [f"stopped process {child}, left running by the killed run {holder.pid}"]
        orphan.wait(timeout=10)
        assert not orphan.is_running()
        record = json.loads(warehouse_lock.lock_path_for(warehouse).read_text())
        assert record["pid"] == os.getpid() and record["previous"] == {}
        # Nested holds in one process (the command line, then the run's resource) share it.
        assert not warehouse_lock.acquire(warehouse)
        warehouse_lock.release(warehouse)
        assert warehouse_lock.holds(warehouse)
    finally:
        warehouse_lock.release(warehouse)
    assert not warehouse_lock.holds(warehouse)
    # A clean end leaves nothing for the next run to recover from.
    assert warehouse_lock.lock_path_for(warehouse).read_text() == ""


def _warehouse_with_kpis(path: Path, value: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute("create schema if not exists kpi")
    con.execute(
        "create or replace table kpi.kpi_values as select range as v from range(?)", [value]
    )
    return con


def test_a_publication_killed_between_its_swaps_is_completed_and_its_leftovers_removed(
    tmp_path,
):
    published = tmp_path / "warehouse.published.duckdb"
    con = _warehouse_with_kpis(tmp_path / "warehouse.duckdb", 3)
    first = publish_schema(con, published)
    time.sleep(0.01)
    con.execute("create or replace table kpi.kpi_values as select range as v from range(5)")
    second = publish_schema(con, published)
    con.close()
    root = parquet_root_for(published)
    # As a kill right after the DuckDB swap leaves it: Parquet still on the first.
    os.replace(root / "current", root / "old")
    os.symlink(Path("versions") / first.publication_id, root / "current")
    os.unlink(root / "old")
    assert publication_ids(published) == (second.publication_id, first.publication_id)
    leftovers = [
        tmp_path / f".{published.name}.0123abcd.tmp",
        tmp_path / f".{published.name}.0123abcd.tmp.wal",
        root / ".current.0123abcd.tmp",
        root / "versions" / ".20260101T000000000000Z-0123abcd.tmp",
    ]
    for path in leftovers[:3]:
        path.write_text("partial")
    leftovers[3].mkdir()
    (leftovers[3] / "kpi_values.parquet").write_text("partial")

    assert sorted(remove_leftovers(published)) == sorted(leftovers)
    assert not any(p.exists() for p in leftovers)
    assert complete_switch(published) == second.publication_id
    assert publication_ids(published) == (second.publication_id, second.publication_id)
    assert complete_switch(published) is None


def test_a_pull_killed_mid_write_leaves_a_temporary_file_the_next_pull_removes(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = tmp_path / f".2026-01-01T000000.000000Z__postgres.parquet.{dead.pid}.tmp"
    mine = tmp_path / f".2026-01-02T000000.000000Z__postgres.parquet.{os.getpid()}.tmp"
    delivery = tmp_path / "2026-01-01T000000.000000Z__postgres.parquet"
    for path in (orphan, mine, delivery):
        path.write_text("x")
    assert remove_orphan_temp_files(tmp_path) == [orphan]
    assert mine.exists() and delivery.exists() and not orphan.exists()
