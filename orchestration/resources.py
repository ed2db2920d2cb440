"""Dagster resources shared by every concern: the warehouse and the landing zone."""

from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.ingestion.extract import connect


class WarehouseResource(dg.ConfigurableResource):
    """The working DuckDB warehouse the pipeline writes, and its published copy."""

    path: str
    published_path: str
    as_of: str | None = None

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
