"""A few valid but odd rows publish, mark their periods, and a second run changes nothing.

The real command line with the default quality configuration runs twice on the same
small generated landing folder, into which two order lines with a discount larger than
their amount (in two monthly deliveries) and one region-day sold below cost were
written. Both runs must publish; the discounts' periods are warned (the scorecard shows
them as provisional), the negative margin is published as it is, and the second run
leaves every data table, in the working warehouse and in the published copy, exactly
as it was. Tables that log runs may only grow, with the rows they had unchanged.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

CLI = [sys.executable, "-m", "orchestration.cli"]
SEED = 7
DISCOUNT_CHECK = "sales.order_lines:discount_exceeds_line_amount"
# Per-run records: they may gain rows on a second run, never change the ones they have.
APPEND_ONLY = {
    ("quality", "check_results"),
    ("ingest", "load_log"),
    ("alerting", "notifications"),
}
# The published copy's manifest names its publication (id and time: a new copy is a new
# publication, which is how readers tell them apart); what it lists must not change.
# The record of the last dbt build says when it ran and whether it was a full or an
# incremental one (a second run is incremental); the code and data it built must not change.
# The state of the quality rules' kept counts says when each last counted, how much and
# why (the first count is of everything, the second only of what the last load reached);
# what it counted from must not change.
MANIFEST_CONTENT = {
    ("meta", "published_tables"): "table_schema, table_name, row_count",
    ("meta", "dbt_build_state"): "code_hash, loaded_through",
    ("quality", "rule_unit_state"): "suite, check_name, fingerprint, as_of, loaded_through",
}


def run_cli(landing: Path, warehouse: Path, gx_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "KPI_GX_DIR": str(gx_dir)}
    env.pop("KPI_QUALITY_CONFIG", None)
    return subprocess.run(
        [*CLI, "run", "--landing-dir", str(landing), "--warehouse", str(warehouse)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )


def rewrite_lines(path: Path, change) -> list[str]:
    """Apply ``change(row) -> bool`` to every order line of ``path``; the changed order ids."""
    rows = pq.read_table(path).to_pylist()
    changed = [row["order_id"] for row in rows if change(row)]
    pq.write_table(pa.Table.from_pylist(rows, schema=pq.read_schema(path)), path)
    return changed


def amount(row: dict) -> Decimal:
    return row["quantity"] * Decimal(row["unit_price"])


def snapshot(path: Path) -> dict[tuple[str, str], list[tuple]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_type = 'BASE TABLE' order by 1, 2"
        ).fetchall()
        return {
            (schema, name): con.execute(
                f'select {MANIFEST_CONTENT.get((schema, name), "*")} from "{schema}"."{name}"'
            ).fetchall()
            for schema, name in tables
        }
    finally:
        con.close()


def changed_tables(before: dict, after: dict) -> list[str]:
    """Tables whose content differs; an append-only table may only have gained rows."""
    problems = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old is None or new is None:
            problems.append(f"{'.'.join(key)} {'appeared' if old is None else 'disappeared'}")
        elif key in APPEND_ONLY:
            if Counter(old) - Counter(new):
                problems.append(f"{'.'.join(key)} lost or changed rows it had")
        elif Counter(old) != Counter(new):
            problems.append(f"{'.'.join(key)} changed")
    return problems


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    from orchestration.demo.generator import generate

    root = tmp_path_factory.mktemp("stable")
    landing = root / "landing"
    generate(landing, scale=0.02, seed=SEED)
    lines = landing / "sales" / "order_lines"

    # One line with a discount above its amount in each of two monthly deliveries: a
    # few odd rows, well under the share that blocks.
    odd_orders = []
    for month in ("2025-06", "2025-08"):
        first_line = [True]

        def discount_above_amount(row, first_line=first_line):
            if not first_line:
                return False
            first_line.pop()
            row["discount_amount"] = str(amount(row) + Decimal("5.00"))
            return True

        odd_orders += rewrite_lines(lines / f"{month}.parquet", discount_above_amount)
    assert len(odd_orders) == 2

    # Every order of one region on one day sold at a penny above its discount: a
    # net-negative gross margin for that region-day, valid and real.
    july_lines = lines / "2025-07.parquet"
    orders = duckdb.sql(
        "select distinct order_id, cast(cast(ordered_at as timestamptz) at time zone 'UTC' "
        f"as date) as day, region from read_csv('{landing}/sales/orders/2025-07.csv', "
        f"all_varchar=true) where order_id in (select order_id from '{july_lines}') "
        "order by order_id"
    ).fetchall()
    assert orders, "the generator delivers July 2025 orders as CSV"
    _, day, region = orders[0]
    below_cost = {o for o, d, r in orders if d == day and r == region}

    def sold_below_cost(row):
        if row["order_id"] not in below_cost:
            return False
        row["discount_amount"] = str(amount(row) - Decimal("0.01"))
        return True

    assert rewrite_lines(july_lines, sold_below_cost)

    warehouse = root / "warehouse" / "warehouse.duckdb"
    first = run_cli(landing, warehouse, root / "gx")
    assert first.returncode == 0, first.stderr[-4000:]
    published = Path(first.stdout.strip().splitlines()[-1].removeprefix("published: "))
    before = {"warehouse": snapshot(warehouse), "published": snapshot(published)}
    second = run_cli(landing, warehouse, root / "gx")
    after = {"warehouse": snapshot(warehouse), "published": snapshot(published)}
    return {
        "first": first,
        "second": second,
        "before": before,
        "after": after,
        "published": published,
        "warehouse": warehouse,
        "landing": landing,
        "odd_orders": odd_orders,
        "below_cost": (day, region),
    }


@pytest.mark.slow
def test_both_runs_publish_with_the_default_configuration(two_runs):
    for result in (two_runs["first"], two_runs["second"]):
        assert result.returncode == 0, result.stderr[-4000:]
        assert result.stdout.strip().splitlines()[-1].startswith("published: ")


@pytest.mark.slow
def test_a_second_run_changes_no_data_table(two_runs):
    before, after = two_runs["before"], two_runs["after"]
    assert ("kpi", "kpi_alerts") in before["warehouse"]
    assert ("quality", "check_marks") in before["warehouse"]
    assert before["warehouse"][("quality", "check_marks")], "the odd rows left marks"
    problems = changed_tables(before["warehouse"], after["warehouse"])
    problems += [f"published {p}" for p in changed_tables(before["published"], after["published"])]
    assert not problems, problems
    # The run log did grow: the second run's results were appended.
    results = ("quality", "check_results")
    assert len(after["warehouse"][results]) > len(before["warehouse"][results])


@pytest.mark.slow
def test_discounts_above_the_amount_count_and_mark_their_periods_provisional(two_runs):
    from reports.scorecard import load_scorecard, render_html

    published = two_runs["published"]
    con = duckdb.connect(str(two_runs["warehouse"]), read_only=True)
    try:
        days = {
            d
            for (d,) in con.execute(
                "select distinct cast(ordered_at as date) from raw_sales.orders "
                "where order_id in (select unnest(?))",
                [two_runs["odd_orders"]],
            ).fetchall()
        }
    finally:
        con.close()
    con = duckdb.connect(str(published), read_only=True)
    try:
        quality = con.execute(
            "select grain, period_start, quality_state, checks from kpi.kpi_quality "
            "where kpi_id = 'revenue'"
        ).fetchall()
        (revenue_june,) = con.execute(
            "select value from kpi.kpi_values where kpi_id = 'revenue' and grain = 'month' "
            "and period_start = date '2025-06-01' and dimension = 'all'"
        ).fetchone()
    finally:
        con.close()
    assert len(days) == 2
    warned = {(g, s) for g, s, state, checks in quality if DISCOUNT_CHECK in (checks or "")}
    assert {s for g, s in warned if g == "month"} == {date(2025, 6, 1), date(2025, 8, 1)}
    assert all(state == "warned" for g, s, state, checks in quality if (g, s) in warned)
    assert {("day", d) for d in days} <= warned
    assert revenue_june > 0
    scorecard = load_scorecard(published, "2025-06")
    revenue = next(k for k in scorecard.kpis if k.kpi_id == "revenue")
    assert revenue.provisional and revenue.quality_state == "warned"
    assert "provisional" in render_html(scorecard)


@pytest.mark.slow
def test_odd_rows_count_exactly_as_the_catalog_says(two_runs):
    """Revenue and margin where the odd lines fall equal the independent reference."""
    from tests.reference import compute_kpi_values

    expected = compute_kpi_values(two_runs["landing"])
    expected = expected[expected.kpi_id.isin(["revenue", "gross_margin_rate"])]
    con = duckdb.connect(str(two_runs["published"]), read_only=True)
    try:
        actual = {
            (k, g, s, d, v): value
            for k, g, s, d, v, value in con.execute(
                "select kpi_id, grain, period_start, dimension, dimension_value, value "
                "from kpi.kpi_values where kpi_id in ('revenue', 'gross_margin_rate') "
                "and grain in ('day', 'month')"
            ).fetchall()
        }
    finally:
        con.close()
    months = {date(2025, 6, 1), date(2025, 7, 1), date(2025, 8, 1)}
    compared = 0
    for row in expected.itertuples():
        start = pd.Timestamp(row.period_start).date()
        in_scope = (row.grain == "month" and start in months) or (
            row.grain == "day" and start.replace(day=1) in months
        )
        key = (row.kpi_id, row.grain, start, row.dimension, row.dimension_value)
        if not in_scope or key not in actual:
            continue
        if pd.isna(row.value):
            assert actual[key] is None, key
        else:
            assert math.isclose(actual[key], row.value, rel_tol=1e-9, abs_tol=1e-9), key
        compared += 1
    assert compared > 100


@pytest.mark.slow
def test_a_day_sold_below_cost_is_published_as_a_negative_margin(two_runs):
    day, region = two_runs["below_cost"]
    con = duckdb.connect(str(two_runs["published"]), read_only=True)
    try:
        (value,) = con.execute(
            "select value from kpi.kpi_values where kpi_id = 'gross_margin_rate' "
            "and grain = 'day' and period_start = ? and dimension = 'region' "
            "and dimension_value = ?",
            [day, region],
        ).fetchone()
    finally:
        con.close()
    assert value < 0
