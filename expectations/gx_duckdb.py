"""Great Expectations on DuckDB: a SQL datasource whose results survive the connection pool.

GX 1.x runs every metric query through ``SqlAlchemyExecutionEngine.execute_query``,
which returns the SQLAlchemy result *after* its ``with engine.connect()`` block has
handed the connection back to the pool. Returning a connection resets it (a rollback),
and a DuckDB connection holds one pending result at a time: the rollback replaces the
metric's result, so GX reads an empty cursor and every metric fails with
``IndexError: list index out of range`` or ``'NoneType' object is not subscriptable``
(great_expectations issues #10738 and #11579).

The fix is one method: fetch the rows while the connection is still checked out and
hand GX a buffered result with the same interface (``fetchone``, ``fetchmany``,
``fetchall``, ``scalar``, rows with ``_asdict``). Every query still runs inside DuckDB;
only its result, which GX reduces to aggregates or a bounded sample, crosses into
Python. The datasource type below is GX's own extension point (the same pattern as its
``SqliteDatasource``), so nothing of GX is patched at import time.
"""

from __future__ import annotations

from typing import Literal

from great_expectations.datasource.fluent import SQLDatasource
from great_expectations.execution_engine import SqlAlchemyExecutionEngine

DATASOURCE_TYPE = "duckdb_buffered"


class BufferedDuckDBExecutionEngine(SqlAlchemyExecutionEngine):
    """A SQLAlchemy execution engine that reads each result before releasing its connection."""

    def execute_query(self, query):
        with self.get_connection() as connection:
            result = connection.execute(query)
            if not result.returns_rows:
                return result
            # freeze() fetches every row now; calling the frozen result replays them as
            # a regular Result, so callers keep the cursor API they expect.
            return result.freeze()()


class BufferedDuckDBDatasource(SQLDatasource):
    """A GX SQL datasource on a DuckDB file (``duckdb:///path``) using the engine above."""

    type: Literal["duckdb_buffered"] = DATASOURCE_TYPE  # type: ignore[assignment]

    @property
    def execution_engine_type(self) -> type[SqlAlchemyExecutionEngine]:
        return BufferedDuckDBExecutionEngine

    def dispose(self) -> None:
        """Close every pooled connection, so the DuckDB file is free for the next writer."""
        if self._execution_engine is not None:
            self._execution_engine.close()
        if self._engine is not None:
            self._engine.dispose()
