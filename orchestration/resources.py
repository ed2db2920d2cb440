"""Dagster resources shared by every concern: the warehouse and the landing zone."""

from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from orchestration import warehouse_lock
from orchestration.ingestion.extract import connect
from orchestration.keys import REPORTS_GROUP, SCORECARD_JOB


def _writes_warehouse(run: dg.DagsterRun | None) -> bool:
    """Whether a run may write the working warehouse (the scorecards only read the copy)."""
    if run is None:
        return False
    if run.job_name == SCORECARD_JOB:
        return False
    selection = run.asset_selection or set()
    return not (selection and all(key.path[0] == REPORTS_GROUP for key in selection))


class WarehouseResource(dg.ConfigurableResource):
    """The working DuckDB warehouse the pipeline writes, and its published copy."""

    path: str
    published_path: str
    as_of: str | None = None
    # dbt rebuilds every model, the incremental ones too (kpi-warehouse run --full-refresh).
    full_refresh: bool = False

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # The whole run holds the warehouse (see warehouse_lock.py), whoever started it;
        # with the in-process executor this runs once per run, before the first step.
        run = context.run
        command = f"Dagster run {run.run_id} of {run.job_name}" if run else None
        if _writes_warehouse(run) and warehouse_lock.acquire(self.path, command=command):
            log = context.log.info if context.log else None
            warehouse_lock.recover(self.path, self.published_path, log=log)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if _writes_warehouse(context.run):
            warehouse_lock.release(self.path)

    @contextmanager
    def connection(self, read_only: bool = False):
        # DuckDB allows one writing process per file: open late, close early, so that
        # dbt (a subprocess) can take the file in the next step.
        con: duckdb.DuckDBPyConnection = connect(self.path, read_only=read_only)
        try:
            yield con
        finally:
            con.close()


class LandingZoneResource(dg.ConfigurableResource):
    """The landing directory: <dir>/<system>/<entity>/<delivery-file>."""

    path: str

    @property
    def root(self) -> Path:
        return Path(self.path)
