"""Year-end projections backtested on generated demo data (kpi.kpi_projections).

One pipeline run on demo data that ends on 31 December 2026 and starts in November 2024:
2025 is a full year without a full year before it (run rate), 2026 a full year with one
(seasonal). Each September row projects its year from January to September only, so it is
compared with that year's actual value in kpi_values (year grain). The bounds and the
errors found are documented in the model's docs (_kpi__projections.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration.settings import published_path_for

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "orchestration.cli"]
SEED = 11
END = date(2026, 12, 31)
# The high-volume KPIs of every kind (a sum, averages, ratios, higher and lower is better);
# at this scale a month holds a few dozen leads, opportunities or production runs, and
# those KPIs' months are too noisy for a fixed bound (their errors are in the docs).
BACKTESTED = [
    "revenue",
    "average_order_value",
    "gross_margin_rate",
    "on_time_delivery_rate",
    "sla_compliance_rate",
    "order_completion_time_days",
    "service_availability",
    "attendance_rate",
]
# Documented bounds on |projected − actual| / |actual| for the company as a whole. The run
# rate misses revenue's strong fourth quarter by about 10%.
SEASONAL_BOUND = 0.05
RUN_RATE_BOUND = 0.15


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    from orchestration.demo.generator import generate

    root = tmp_path_factory.mktemp("projections")
    landing = root / "landing"
    generate(landing, scale=0.02, seed=SEED, end_date=END)
    warehouse = root / "warehouse.duckdb"
    done = subprocess.run(
        [*CLI, "run", "--landing-dir", str(landing), "--warehouse", str(warehouse)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "KPI_GX_DIR": str(root / "gx")},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return published_path_for(warehouse)


def read(path: Path, sql: str, params: list | None = None) -> pd.DataFrame:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).df()
    finally:
        con.close()


def backtest(published: Path, year: int) -> pd.DataFrame:
    """September's projection of ``year`` beside the year's actual value, company-wide."""
    return read(
        published,
        """
        select
            p.kpi_id, p.method, p.history_years, p.projected_value, p.projected_low,
            p.projected_high, v.value as actual,
            abs(p.projected_value - v.value) / abs(v.value) as relative_error
        from kpi.kpi_projections as p
        inner join kpi.kpi_values as v
            on v.kpi_id = p.kpi_id and v.grain = 'year'
            and v.period_start = make_date(p.year, 1, 1)
            and v.dimension = p.dimension and v.dimension_value = p.dimension_value
        where p.month = make_date(?, 9, 1) and p.dimension = 'all'
        order by p.kpi_id
        """,
        [year],
    ).set_index("kpi_id")


def test_seasonal_backtest_january_to_september_2026(published):
    result = backtest(published, 2026)
    print(result.to_string())
    mine = result.loc[BACKTESTED]
    assert (mine.method == "seasonal").all() and (mine.history_years == 1).all()
    assert mine.relative_error.max() <= SEASONAL_BOUND, mine.to_string()
    revenue = result.loc["revenue"]
    assert revenue.projected_low <= revenue.actual <= revenue.projected_high


def test_seasonality_beats_the_run_rate_on_revenue(published):
    """From the same nine months, the run rate would miss revenue's fourth quarter."""
    row = read(
        published,
        """
        select p.ytd_value * 12 / 9 as run_rate, p.projected_value, v.value as actual
        from kpi.kpi_projections as p
        inner join kpi.kpi_values as v
            on v.kpi_id = p.kpi_id and v.grain = 'year' and v.period_start = '2026-01-01'
            and v.dimension = 'all' and v.dimension_value = 'all'
        where p.kpi_id = 'revenue' and p.month = '2026-09-01' and p.dimension = 'all'
        """,
    ).iloc[0]
    seasonal_error = abs(row.projected_value - row.actual)
    run_rate_error = abs(row.run_rate - row.actual)
    assert seasonal_error < run_rate_error / 5, row.to_dict()


def test_run_rate_backtest_january_to_september_2025(published):
    result = backtest(published, 2025)
    print(result.to_string())
    mine = result.loc[BACKTESTED]
    assert (mine.method == "run_rate").all() and (mine.history_years == 0).all()
    assert mine.relative_error.max() <= RUN_RATE_BOUND, mine.to_string()


def test_december_projects_the_year_itself(published):
    """With the whole year known there is nothing left to project: the year's value."""
    rows = read(
        published,
        """
        select p.kpi_id, p.dimension, p.dimension_value, p.projected_value,
            p.projected_low, p.projected_high, v.value
        from kpi.kpi_projections as p
        inner join kpi.kpi_values as v
            on v.kpi_id = p.kpi_id and v.grain = 'year'
            and v.period_start = make_date(p.year, 1, 1)
            and v.dimension = p.dimension and v.dimension_value = p.dimension_value
        where p.month in ('2025-12-01', '2026-12-01') and v.value is not null
        """,
    )
    assert len(rows) > 100
    scale = rows.value.abs().clip(lower=1)
    assert ((rows.projected_value - rows.value).abs() / scale).max() < 1e-8
    assert (rows.projected_low == rows.projected_value).all()
    assert (rows.projected_high == rows.projected_value).all()


def test_projections_cover_every_flow_kpi_month_and_slice_only(published):
    projected = set(read(published, "select distinct kpi_id from kpi.kpi_projections").kpi_id)
    assert "ticket_backlog" not in projected and "customer_retention_rate" not in projected
    assert len(projected) == 14
    missing = read(
        published,
        """
        select v.kpi_id, v.period_start, v.dimension, v.dimension_value
        from kpi.kpi_values as v
        left join kpi.kpi_projections as p
            on p.kpi_id = v.kpi_id and p.month = v.period_start
            and p.dimension = v.dimension and p.dimension_value = v.dimension_value
        where v.grain = 'month' and v.kpi_id not in ('ticket_backlog', 'customer_retention_rate')
            and p.kpi_id is null
        """,
    )
    assert missing.empty, missing.head().to_string()


def test_revenue_year_target_and_probability(published):
    """Revenue's year target is its twelve-month plan; a channel has no plan and no target."""
    rows = read(
        published,
        """
        select p.dimension, p.year_target, p.probability_of_meeting_target as probability,
            (select sum(target) from kpi.kpi_values as v
             where v.kpi_id = 'revenue' and v.grain = 'month' and v.dimension = 'all'
                and v.period_start between '2026-01-01' and '2026-12-01') as plan
        from kpi.kpi_projections as p
        where p.kpi_id = 'revenue' and p.month = '2026-09-01'
            and p.dimension in ('all', 'channel')
        """,
    )
    company = rows[rows.dimension == "all"].iloc[0]
    assert company.year_target == pytest.approx(company.plan, rel=1e-12)
    assert 0 <= company.probability <= 1
    channels = rows[rows.dimension == "channel"]
    assert len(channels) > 0
    assert channels.year_target.isna().all() and channels.probability.isna().all()
