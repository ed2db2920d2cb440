"""``kpi.kpi_quality``: for every KPI and calendar period, whether its inputs passed.

A period is ``failed`` when an error rule marks it, ``warned`` when only warn rules do,
``passed`` otherwise. An entity rule marks the periods (of every grain) that contain
one of its days, for each KPI whose definition reads that entity
(``kpi_definitions.source_entities``); a KPI-output rule marks the KPI periods it
names. Each check counts with its latest result, so a check that a run did not select
keeps its previous verdict.

Failed periods never reach the published copy (an error rule blocks publishing); they
show in the working warehouse when ``kpi_quality`` is rebuilt after a blocked run.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from expectations.runner import ensure_results_tables

QUALITY_TABLE = "kpi.kpi_quality"
STATES = ("passed", "warned", "failed")


def _checks_sql(checks: Iterable[tuple[str, str]]) -> str:
    rows = [
        "(" + ", ".join("'" + part.replace("'", "''") + "'" for part in check) + ")"
        for check in checks
    ]
    if not rows:
        return (
            "select cast(null as varchar) as suite, cast(null as varchar) as check_name where false"
        )
    return "select * from (values " + ", ".join(rows) + ") as c(suite, check_name)"


def write_kpi_quality(
    con: duckdb.DuckDBPyConnection, checks: Iterable[tuple[str, str]]
) -> dict[str, int]:
    """Rebuild ``kpi.kpi_quality`` from the latest result of each of ``checks``.

    ``checks`` are the (suite, check name) pairs configured now, so a rule that was
    removed from the configuration stops marking numbers. Returns rows per state.
    """
    ensure_results_tables(con)
    con.execute("create schema if not exists kpi")
    con.execute(
        f"""
        create or replace table {QUALITY_TABLE} as
        with configured as ({_checks_sql(checks)}),
        latest as (
            select results.*
            from quality.check_results as results
            join configured
                on configured.suite = results.suite
                and configured.check_name = results.check_name
            qualify row_number() over (
                partition by results.suite, results.check_name order by results.checked_at desc
            ) = 1
        ),
        failing as (
            select suite, check_name, severity,
                   suite || ':' || check_name || ' (' || severity || '): '
                       || coalesce(summary, description) as detail
            from latest
            where not passed
        ),
        definitions as (
            select kpi_id, trim(unnest(string_split(source_entities, ','))) as entity
            from kpi.kpi_definitions
            where is_current
        ),
        periods as (
            select kpis.kpi_id, calendar.grain, calendar.period_start, calendar.period_end
            from (select distinct kpi_id from kpi.kpi_definitions where is_current) as kpis
            cross join marts.dim_calendar as calendar
        ),
        marks as (
            select distinct periods.kpi_id, periods.grain, periods.period_start,
                   failing.suite, failing.check_name, failing.severity, failing.detail
            from failing
            join quality.check_marks as m
                on m.suite = failing.suite
                and m.check_name = failing.check_name
            join definitions on definitions.entity = failing.suite
            join periods
                on periods.kpi_id = definitions.kpi_id
                and m.day >= periods.period_start
                and m.day < periods.period_end
            where m.day is not null
            union
            select m.kpi_id, m.grain, m.period_start,
                   failing.suite, failing.check_name, failing.severity, failing.detail
            from failing
            join quality.check_marks as m
                on m.suite = failing.suite
                and m.check_name = failing.check_name
            where m.kpi_id is not null
        )
        select
            periods.kpi_id,
            periods.grain,
            periods.period_start,
            periods.period_end,
            case
                when count(*) filter (where marks.severity = 'error') > 0 then 'failed'
                when count(marks.severity) > 0 then 'warned'
                else 'passed'
            end as quality_state,
            string_agg(distinct marks.suite || ':' || marks.check_name, ', '
                       order by marks.suite || ':' || marks.check_name) as checks,
            string_agg(distinct marks.detail, '; ' order by marks.detail) as details
        from periods
        left join marks
            on marks.kpi_id = periods.kpi_id
            and marks.grain = periods.grain
            and marks.period_start = periods.period_start
        group by periods.kpi_id, periods.grain, periods.period_start, periods.period_end
        order by periods.kpi_id, periods.grain, periods.period_start
        """
    )
    counts = dict(
        con.execute(f"select quality_state, count(*) from {QUALITY_TABLE} group by 1").fetchall()
    )
    return {state: counts.get(state, 0) for state in STATES}


def checks_without_result(
    con: duckdb.DuckDBPyConnection, checks: Iterable[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The configured checks that have never run against this warehouse."""
    ensure_results_tables(con)
    return con.execute(
        f"""
        select configured.suite, configured.check_name
        from ({_checks_sql(checks)}) as configured
        where not exists (
            select 1 from quality.check_results as results
            where results.suite = configured.suite
              and results.check_name = configured.check_name
        )
        order by 1, 2
        """
    ).fetchall()
