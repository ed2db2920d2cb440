"""What the scorecard reads of the published copy: one query per table of the ``kpi``
schema, run on one read-only connection, and the error a user sees when it cannot be read.

``read_month`` returns the rows as they come (dicts, in each query's order); turning them
into KPI cards, the summary and the year view is ``reports.scorecard``'s job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from reports.published import latest_complete_month_start


class ScorecardError(Exception):
    """The scorecard cannot be made; the message is one sentence a user can act on."""


def connect(path: Path) -> duckdb.DuckDBPyConnection:
    if not Path(path).is_file():
        raise ScorecardError(
            f"There is no published KPI copy at {path}; run `kpi-warehouse run` first."
        )
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise ScorecardError(f"The published KPI copy {path} cannot be opened: {first}") from exc


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def latest_complete_month(published_path: Path) -> str:
    """The last month whose KPIs are complete in the published copy (YYYY-MM)."""
    con = connect(published_path)
    try:
        start = latest_complete_month_start(con)
    finally:
        con.close()
    if start is None:
        raise ScorecardError(f"The published KPI copy {published_path} has no complete month yet.")
    return start.strftime("%Y-%m")


@dataclass
class PublishedMonth:
    """The rows of the published copy one month's scorecard is made of.

    ``history`` holds the company-wide monthly values up to the month, ``slices`` the
    month's values by dimension; a part whose table the copy lacks is empty, or None
    where the scorecard says the section is missing (quality, each year-view table).
    """

    definitions: list[dict]
    history: list[dict]
    slices: list[dict]
    labels: dict[str, dict[str, str]]
    latest_day: date | None
    quality: list[dict] | None
    restated: list[dict]
    year: dict[str, list[dict] | None]
    span: tuple | None


def read_month(published_path: Path, start: date, window_start: date) -> PublishedMonth:
    """Every table the scorecard of the month ``start`` reads, the trend from ``window_start``."""
    con = connect(Path(published_path))
    try:
        require_kpi_tables(con, published_path)
        return PublishedMonth(
            definitions=read_definitions(con),
            history=read_history(con, start),
            slices=read_slices(con, start),
            labels=read_slice_labels(con),
            latest_day=read_latest_day(con),
            quality=read_quality(con, start),
            restated=read_restatements(con, start),
            year=read_year_rows(con, start, window_start),
            span=read_span(con),
        )
    finally:
        con.close()


def require_kpi_tables(con: duckdb.DuckDBPyConnection, published_path: Path) -> None:
    if not table_exists(con, "kpi", "kpi_values") or not table_exists(
        con, "kpi", "kpi_definitions"
    ):
        raise ScorecardError(
            f"The published copy {published_path} has no kpi.kpi_values or "
            "kpi.kpi_definitions table."
        )


def read_definitions(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Every version of every KPI's definition."""
    return rows(con, "select * from kpi.kpi_definitions order by kpi_id, definition_version")


def read_history(con: duckdb.DuckDBPyConnection, start: date) -> list[dict]:
    """The company-wide monthly values of every KPI up to the month."""
    return rows(
        con,
        "select kpi_id, period_start, is_complete, value, target, variance, status, "
        "previous_value, definition_version from kpi.kpi_values "
        "where grain = 'month' and dimension = 'all' and period_start <= ? "
        "order by kpi_id, period_start",
        [start],
    )


def read_slices(con: duckdb.DuckDBPyConnection, start: date) -> list[dict]:
    """The month's values by dimension (every dimension but 'all')."""
    return rows(
        con,
        "select kpi_id, dimension, dimension_value, value, target, status "
        "from kpi.kpi_values where grain = 'month' and period_start = ? "
        "and dimension <> 'all' order by kpi_id, dimension, dimension_value",
        [start],
    )


def read_slice_labels(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str]]:
    """Display names the data gives (services), by dimension and value; older copies have none."""
    labels: dict[str, dict[str, str]] = {}
    if table_exists(con, "kpi", "kpi_slice_labels"):
        for row in rows(con, "select dimension, dimension_value, label from kpi.kpi_slice_labels"):
            labels.setdefault(row["dimension"], {})[row["dimension_value"]] = row["label"]
    return labels


def read_latest_day(con: duckdb.DuckDBPyConnection) -> date | None:
    """The last day with company-wide daily values: how current the copy is."""
    row = con.execute(
        "select max(period_start) from kpi.kpi_values where grain = 'day' and dimension = 'all'"
    ).fetchone()
    return row[0] if row else None


def read_quality(con: duckdb.DuckDBPyConnection, month: date) -> list[dict] | None:
    """The month's quality results of every KPI; None for a copy without the table."""
    if not table_exists(con, "kpi", "kpi_quality"):
        return None
    return rows(
        con,
        "select kpi_id, quality_state, details from kpi.kpi_quality "
        "where grain = 'month' and period_start = ? order by kpi_id, quality_state, details",
        [month],
    )


def read_restatements(con: duckdb.DuckDBPyConnection, start: date) -> list[dict]:
    """The company-wide months up to this one restated after they were reported, newest first."""
    if not table_exists(con, "kpi", "kpi_restatements"):
        return []
    return rows(
        con,
        "select kpi_id, period_start, reported_value, current_value, reported_status, "
        "current_status, restated_at, reason, detail from kpi.kpi_restatements "
        "where grain = 'month' and dimension = 'all' and period_start <= ? "
        "order by restated_at desc, kpi_id, period_start",
        [start],
    )


def read_year_rows(
    con: duckdb.DuckDBPyConnection, start: date, window_start: date
) -> dict[str, list[dict] | None]:
    """The rows of the year-view tables for the month; None for a table the copy lacks."""
    queries = {
        "kpi_period_to_date": (
            "select kpi_id, ytd_value, ytd_target, ytd_status, ytd_months "
            "from kpi.kpi_period_to_date where month = ? and dimension = 'all'",
            [start],
        ),
        "kpi_projections": (
            "select kpi_id, year, projected_value, projected_low, projected_high, year_target, "
            "probability_of_meeting_target, method from kpi.kpi_projections "
            "where month = ? and dimension = 'all'",
            [start],
        ),
        "kpi_scores": (
            "select scope, perspective, month, score, previous_score, kpis_scored, "
            "kpis_in_scope from kpi.kpi_scores where month between ? and ?",
            [window_start, start],
        ),
        "goal_progress": (
            "select * from kpi.goal_progress "
            "order by objective_period_start, objective_id, key_result_id, milestone_date",
            [],
        ),
    }
    return {
        table: rows(con, sql, params) if table_exists(con, "kpi", table) else None
        for table, (sql, params) in queries.items()
    }


def read_span(con: duckdb.DuckDBPyConnection) -> tuple | None:
    """The first and last month with company-wide values (for the message of a missing month)."""
    return con.execute(
        "select min(period_start), max(period_start) from kpi.kpi_values "
        "where grain = 'month' and dimension = 'all'"
    ).fetchone()
