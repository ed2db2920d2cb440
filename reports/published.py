"""What every reader of the ``kpi`` schema agrees on, in the published copy or in the
working warehouse (the same tables): the scorecard, the Dagster previews, the alerts."""

from __future__ import annotations

from datetime import date


def latest_complete_month_start(con) -> date | None:
    """The first day of the last month whose KPIs are complete, or None before there is one.

    ``con`` is a DuckDB connection to a database with the ``kpi`` schema.
    """
    row = con.execute(
        "select max(period_start) from kpi.kpi_values "
        "where grain = 'month' and dimension = 'all' and is_complete"
    ).fetchone()
    return row[0] if row else None
