"""One writing run per warehouse; reports and BI readers are never held up by it.

A real run is held in the middle of its publication (``KPI_TEST_PAUSE_AT``, see
orchestration/crash_points.py). Meanwhile, from other processes: a second
``kpi-warehouse run`` refuses at once with one sentence naming the running process; the
same job started through Dagster (as the UI, a schedule or a sensor start it) refuses
with the same sentence; ``kpi-warehouse report`` renders a scorecard and a BI reader
queries the published copy. Then the held run finishes normally.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestration import warehouse_lock
from tests.test_crash_recovery import _env, _finish, _run, published_state, run_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "orchestration.cli"]
DAGSTER = Path(sys.executable).with_name("dagster")


def test_a_second_run_refuses_at_once_while_reports_and_readers_go_on(tmp_path):
    from orchestration.demo.generator import generate

    landing = tmp_path / "landing"
    generate(landing, scale=0.02, seed=31)
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    published = warehouse.with_name("warehouse.published.duckdb")
    _finish(_run(landing, warehouse))
    first_ids = published_state(published)

    resume = tmp_path / "resume"
    held, held_err = run_until(
        landing, warehouse, "publish-switch", KPI_TEST_RESUME_FILE=str(resume)
    )
    try:
        started = time.monotonic()
        second = subprocess.run(
            [*CLI, "run", "--landing-dir", str(landing), "--warehouse", str(warehouse)],
            cwd=ROOT,
            env=_env(warehouse),
            capture_output=True,
            text=True,
            timeout=300,
        )
        seconds = time.monotonic() - started
        assert second.returncode == 1
        sentence = (
            f"error: The warehouse {warehouse.resolve()} is in use by another run: process "
            f"{held.pid} ("
        )
        assert second.stderr.strip().startswith(sentence), second.stderr
        assert len(second.stderr.strip().splitlines()) == 1, second.stderr
        assert f"process {held.pid} (kpi-warehouse run --landing-dir {landing}" in second.stderr
        assert "started 20" in second.stderr and "UTC" in second.stderr
        # At once: before the definitions (and dbt's manifest) are even loaded.
        assert seconds < 20, seconds
        assert second.stdout == ""

        # The job as Dagster itself launches it for the UI, a schedule or a sensor.
        dagster = subprocess.run(
            [str(DAGSTER), "job", "execute", "-m", "orchestration.definitions"]
            + ["-j", "kpi_pipeline"],
            cwd=ROOT,
            env=_env(warehouse, KPI_LANDING_DIR=str(landing), KPI_WAREHOUSE_PATH=str(warehouse)),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert dagster.returncode != 0
        output = dagster.stdout + dagster.stderr
        assert f"is in use by another run: process {held.pid} (" in output, output[-4000:]
        assert "Could not set lock" not in output

        # Readers: the scorecard and a BI query of the published copy.
        report = subprocess.run(
            [*CLI, "report", "--warehouse", str(warehouse), "--out", str(tmp_path / "reports")],
            cwd=ROOT,
            env=_env(warehouse),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert report.returncode == 0, report.stderr[-3000:]
        pdf = Path(report.stdout.strip().splitlines()[-1])
        assert pdf.suffix == ".pdf" and pdf.stat().st_size > 10_000
        duckdb_id, parquet_id = published_state(published)
        assert parquet_id == first_ids[1] and duckdb_id != first_ids[0]
        assert held.poll() is None
    finally:
        resume.touch()
    assert held.wait(timeout=600) == 0, "".join(held_err[-60:])
    duckdb_id, parquet_id = published_state(published)
    assert duckdb_id == parquet_id != first_ids[0]
    # Free again once the run is over.
    assert warehouse_lock.acquire(warehouse, command="test")
    warehouse_lock.release(warehouse)
