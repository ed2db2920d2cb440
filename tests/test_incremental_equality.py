"""An incremental daily run publishes exactly what a full build of the same data does.

One landing folder, two warehouses: A runs as every day (incremental staging), B with
``--full-refresh`` every time, both through the real CLI. Each step changes the landing
folder the way deliveries do, runs both at once and requires identical published KPIs:

0. the first run (A builds in full: no staging tables yet);
1. a day's deliveries, a late correction of an order of a month closed long ago, an
   order in a currency without any fx rate, a late line of an old order and a new unit
   cost of a product (A incremental);
2. an outage over the month's end: no run for a day, then two days at once, with the
   late fx rate of that currency (A incremental);
3. a run as of an earlier day: the cut-off moves back, orders after it leave the facts
   and fulfilments after it are undone (A incremental);
4. a removed delivery file and a new definition version of a KPI in a copy of the dbt
   project (A builds in full and says why, both reasons).

Besides the published tables, the order facts (marts.fct_orders, incremental by order),
their KPI aggregates (incremental by period), the counts the quality rules keep per month
or delivery file (quality.rule_units) and the days the rules mark (quality.check_marks)
must be equal row for row.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration.settings import DBT_PROJECT_DIR, published_path_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "orchestration.cli"]
DAY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.(csv|parquet)$")
HELD_DAYS = 3
COMPARED = ("kpi.kpi_values", "kpi.kpi_values_reported", "kpi.kpi_quality")
# The order facts (incremental by order), their KPI aggregates (incremental by period),
# the counts the quality rules keep per month or delivery file (only those a run's
# deliveries reach are counted again) and the days the rules mark.
BY_PERIOD = ("marts.fct_kpi_revenue", "marts.fct_kpi_average_order_value",
             "marts.fct_kpi_gross_margin_rate")  # fmt: skip
FACTS = ("marts.fct_orders", *BY_PERIOD, "quality.rule_units", "quality.check_marks")
COUNTED_AGAIN = "counted again only the units their deliveries reach"
COUNTED_ALL = "counted every unit again"
INCREMENTAL = "dbt build: incremental"
# dbt's lines for the models built incrementally (their tables kept, some rows replaced).
BUILT_INCREMENTALLY = [f"incremental model {m}" for m in ("marts.fct_orders", *BY_PERIOD)]
FULL = "dbt build: full refresh, because"
ORDER_COLUMNS = [
    "order_id", "account_id", "ordered_at", "status", "channel", "region",
    "sales_rep_id", "currency", "fulfilled_at", "updated_at",
]  # fmt: skip


def _env(warehouse: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPI_")}
    return {
        **env,
        "KPI_GX_DIR": str(warehouse.parent / "gx"),
        "DAGSTER_HOME": str(warehouse.parent / "dagster_home"),
        **extra,
    }


def _run_both(landing: Path, a: Path, b: Path, *args: str, **env: str) -> str:
    """Run A (incremental) and B (--full-refresh) at once; A's stderr."""
    processes = [
        subprocess.Popen(
            [*CLI, "run", "--landing-dir", str(landing), "--warehouse", str(wh), *args, *flags],
            cwd=ROOT,
            env=_env(wh, **env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for wh, flags in ((a, []), (b, ["--full-refresh"]))
    ]
    errs = []
    for process in processes:
        _, err = process.communicate(timeout=1200)
        assert process.returncode == 0, err[-4000:]
        errs.append(err)
    assert FULL in errs[1] and "--full-refresh was given" in errs[1]
    return errs[0]


def _read(warehouse: Path, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def _assert_same_kpis(a: Path, b: Path) -> None:
    for table in COMPARED:
        # The run that published a value and when are each warehouse's own.
        sql = f"select * from {table} order by all"
        left = _read(published_path_for(a), sql)
        right = _read(published_path_for(b), sql)
        own = [c for c in left.columns if c in ("run_id", "reported_at")]
        left, right = left.drop(columns=own), right.drop(columns=own)
        assert len(left) > 0, table
        pd.testing.assert_frame_equal(left, right, check_exact=True, obj=table)
    for table in FACTS:
        sql = f"select * from {table} order by all"
        left, right = _read(a, sql), _read(b, sql)
        assert len(left) > 0, table
        pd.testing.assert_frame_equal(left, right, check_exact=True, obj=table)


def _copy(full: Path, landing: Path, relative: Path) -> None:
    target = landing / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(full / relative, target)


def _split_by_day(full: Path, landing: Path) -> list[list[Path]]:
    """Copy the deliveries into ``landing`` but those of the last days; those, by day."""
    days = sorted(
        {m.group(1) for p in full.rglob("*") if (m := DAY_FILE.match(p.name)) and p.is_file()}
    )
    batches: dict[str, list[Path]] = {day: [] for day in days[-HELD_DAYS:]}
    for path in full.rglob("*"):
        if not path.is_file():
            continue
        m = DAY_FILE.match(path.name)
        if m and m.group(1) in batches:
            batches[m.group(1)].append(path.relative_to(full))
        else:
            _copy(full, landing, path.relative_to(full))
    return [batches[day] for day in sorted(batches)]


def _text(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def _write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _late_correction(warehouse: Path, landing: Path) -> str:
    """Cancel, by a new delivery, a fulfilled order of a month closed long ago."""
    order = _read(
        warehouse,
        "select * from staging.stg_sales__orders where status = 'fulfilled' "
        "and ordered_at < timestamp '2025-06-01' order by order_id limit 1",
    ).iloc[0]
    row = {c: _text(order[c]) for c in ORDER_COLUMNS}
    row["status"] = "cancelled"
    row["updated_at"] = "2026-10-29T18:00:00Z"
    _write_csv(landing / "sales" / "orders" / "late-correction.csv", [row])
    return row["order_id"]


def _order_in_chf(warehouse: Path, landing: Path) -> None:
    """An order in Swiss francs, a currency the fx feed has no rate of yet."""
    order = _read(
        warehouse,
        "select * from staging.stg_sales__orders where status = 'fulfilled' "
        "order by ordered_at desc, order_id limit 1",
    ).iloc[0]
    row = {c: _text(order[c]) for c in ORDER_COLUMNS}
    row.update(order_id="ORD-CHF-1", currency="CHF")
    _write_csv(landing / "sales" / "orders" / "chf-order.csv", [row])
    line = {
        "order_id": "ORD-CHF-1",
        "line_number": "1",
        "product_id": _read(
            warehouse, "select min(product_id) from staging.stg_sales__products"
        ).iloc[0, 0],
        "quantity": "3",
        "unit_price": "1000.00",
        "discount_amount": "0",
    }
    _write_csv(landing / "sales" / "order_lines" / "chf-order.csv", [line])


def _late_line(warehouse: Path, landing: Path) -> str:
    """A line delivered late for an order of a month closed long ago."""
    line = _read(
        warehouse,
        "select l.* from staging.stg_sales__order_lines l "
        "join staging.stg_sales__orders o using (order_id) "
        "where o.status = 'fulfilled' and o.currency = 'USD' "
        "and o.ordered_at < timestamp '2025-03-01' order by l.order_id limit 1",
    ).iloc[0]
    row = {
        "order_id": line["order_id"],
        "line_number": "99",
        "product_id": line["product_id"],
        "quantity": "2",
        "unit_price": "125.50",
        "discount_amount": "0",
    }
    _write_csv(landing / "sales" / "order_lines" / "late-line.csv", [row])
    return row["order_id"]


def _new_unit_cost(warehouse: Path, landing: Path) -> tuple[str, str]:
    """A product's new unit cost: the margin of every order with a line of it changes."""
    product = _read(
        warehouse, "select * from staging.stg_sales__products order by product_id limit 1"
    ).iloc[0]
    row = {c: _text(product[c]) for c in product.index if not c.startswith("_")}
    row["unit_cost"] = str(round(float(product["unit_cost"]) * 1.5, 2))
    row["updated_at"] = "2026-10-29T18:00:00Z"
    _write_csv(landing / "sales" / "products" / "cost-change.csv", [row])
    return row["product_id"], row["unit_cost"]


def _new_definition_version(project: Path) -> None:
    shutil.copytree(
        DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    registry = project / "models" / "marts" / "kpis" / "_kpis__models.yml"
    text = registry.read_text()
    start = text.index("id: ticket_backlog")
    formula = text.index("            formula:", text.index("          versions:", start))
    end = text.index("\n", formula) + 1
    entry = (
        "          - version: 2\n"
        "            effective_from: '2026-10-01'\n"
        "            formula: The same count, now reviewed weekly.\n"
    )
    registry.write_text(text[:end] + entry + text[end:])


def test_incremental_runs_publish_what_full_builds_do(tmp_path):
    from orchestration.demo.generator import generate

    full, landing = tmp_path / "full", tmp_path / "landing"
    generate(full, scale=0.02, seed=11)
    days = _split_by_day(full, landing)
    a = tmp_path / "a" / "warehouse.duckdb"
    b = tmp_path / "b" / "warehouse.duckdb"

    # 0. The first run: nothing to be incremental on.
    log = _run_both(landing, a, b)
    assert f"{FULL} the warehouse has no staging tables" in log
    _assert_same_kpis(a, b)

    # 1. A day's deliveries, a late correction of an old month, an order without fx rate,
    # a late line of an old order and a product's new unit cost.
    for relative in days[0]:
        _copy(full, landing, relative)
    corrected = _late_correction(a, landing)
    _order_in_chf(a, landing)
    lines = "select line_count from marts.fct_orders where order_id = "
    extended = _late_line(a, landing)
    line_count = _read(a, f"{lines}'{extended}'").iloc[0, 0]
    costed, new_cost = _new_unit_cost(a, landing)
    log = _run_both(landing, a, b)
    assert INCREMENTAL in log and FULL not in log
    assert all(line in log for line in BUILT_INCREMENTALLY)
    assert COUNTED_AGAIN in log and COUNTED_ALL not in log
    _assert_same_kpis(a, b)
    orders = "select order_id, status, currency from marts.fct_orders where order_id in "
    changed = _read(a, f"{orders}('{corrected}', 'ORD-CHF-1')").set_index("order_id")
    assert changed.loc[corrected, "status"] == "cancelled"
    assert changed.loc["ORD-CHF-1", "currency"] == "CHF"
    assert _read(a, f"{lines}'{extended}'").iloc[0, 0] == line_count + 1
    cost = "select unit_cost from staging.stg_sales__products where product_id = "
    assert float(_read(a, f"{cost}'{costed}'").iloc[0, 0]) == float(new_cost)
    no_rate = "select is_convertible from marts.fct_orders where order_id = 'ORD-CHF-1'"
    assert not _read(a, no_rate).iloc[0, 0]

    # 2. An outage over the month's end: two days at once, and the late CHF rate.
    for relative in days[1] + days[2]:
        _copy(full, landing, relative)
    _write_csv(
        landing / "sales" / "fx_rates" / "chf-late.csv",
        [{"rate_date": "2024-01-01", "currency": "CHF", "usd_per_unit": "1.1"}],
    )
    log = _run_both(landing, a, b)
    assert INCREMENTAL in log and FULL not in log
    assert all(line in log for line in BUILT_INCREMENTALLY)
    assert COUNTED_AGAIN in log and COUNTED_ALL not in log
    _assert_same_kpis(a, b)
    assert _read(a, no_rate).iloc[0, 0]

    # 3. A run as of two days before the latest: the cut-off moves back over orders placed
    # and fulfilled after it.
    latest = _read(a, "select max(ordered_at) from marts.fct_orders").iloc[0, 0]
    earlier = (latest - pd.Timedelta(days=2)).date()
    log = _run_both(landing, a, b, "--as-of", earlier.isoformat())
    assert INCREMENTAL in log and FULL not in log
    assert all(line in log for line in BUILT_INCREMENTALLY)
    assert COUNTED_AGAIN in log and COUNTED_ALL not in log
    _assert_same_kpis(a, b)
    after = f"timestamp '{earlier + timedelta(days=1)}'"
    beyond = f"select count(*) from marts.fct_orders where ordered_at >= {after} "
    assert _read(a, beyond + f"or fulfilled_at >= {after}").iloc[0, 0] == 0
    history = "select count(*) from history.kpi_values_history"
    kept = _read(a, history).iloc[0, 0]

    # 4. A removed delivery and a new definition version: A falls back to a full build.
    removed = sorted((landing / "crm" / "tickets").glob("2025-0*.*"))[0]
    removed.unlink()
    project = tmp_path / "dbt_project"
    _new_definition_version(project)
    log = _run_both(landing, a, b, KPI_DBT_PROJECT_DIR=str(project))
    assert f"{FULL} the dbt project's code, registry or target changed" in log
    assert f"crm.tickets/{removed.name}" in log
    assert f"{COUNTED_ALL}, because delivery files were removed or changed" in log
    _assert_same_kpis(a, b)
    # A full build keeps what was published before: the history snapshot ignores it.
    assert _read(a, history).iloc[0, 0] >= kept > 0
    versions = (
        "select distinct definition_version from kpi.kpi_values where kpi_id = 'ticket_backlog'"
    )
    assert 2 in _read(published_path_for(a), versions)["definition_version"].tolist()
