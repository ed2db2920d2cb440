"""Year and quarter to date in the published copy agree with the months of kpi_values.

One real ``kpi-warehouse run`` on generated data (26 months, so partial and whole years
and every quarter boundary), then pandas recomputes the windows of a sum, a ratio, an
average and a stock from the month rows of ``kpi.kpi_values`` and the amber tolerances
of ``kpi.kpi_targets``, independently of the SQL, and compares them with
``kpi.kpi_period_to_date``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "orchestration.cli"]
SLICE = ["kpi_id", "dimension", "dimension_value"]
KEY = [*SLICE, "month"]
# A sum, a ratio, an average and a stock (the registry's formulas).
METHODS = {
    "revenue": "sum",
    "win_rate": "ratio",
    "first_response_time_hours": "ratio",
    "ticket_backlog": "period_end",
}


def read(path: Path, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    from orchestration.demo.generator import generate

    root = tmp_path_factory.mktemp("period_to_date")
    landing = root / "landing"
    generate(landing, scale=0.02, seed=11)
    result = subprocess.run(
        [*CLI, "run", "--landing-dir", str(landing), "--warehouse", str(root / "w.duckdb")],
        capture_output=True,
        text=True,
        timeout=1800,
        # The default configuration, in this test process's own Great Expectations folder.
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("KPI_")},
            "KPI_GX_DIR": os.environ["KPI_GX_DIR"],
        },
    )
    assert result.returncode == 0, result.stderr[-4000:]
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("published: "), result.stdout[-2000:]
    return Path(last.removeprefix("published: "))


def status(value, target, direction: str, tolerance) -> str:
    """The catalog's rule, written out again so the SQL macro is checked, not reused."""
    if pd.isna(value):
        return "no_data"
    if pd.isna(target):
        return "no_target"
    band = abs(target) * (0.0 if pd.isna(tolerance) else tolerance)
    if direction == "higher_is_better":
        return "green" if value >= target else "amber" if value >= target - band else "red"
    return "green" if value <= target else "amber" if value <= target + band else "red"


def expected_windows(months: pd.DataFrame, tolerances: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (kpi_id, dimension, dimension_value), series in months.groupby(SLICE):
        series = series.sort_values("month")
        method = METHODS[kpi_id]
        for _, row in series.iterrows():
            out = {"kpi_id": kpi_id, "dimension": dimension, "dimension_value": dimension_value}
            out["month"] = row["month"]
            tolerance = tolerances.loc[
                (tolerances.kpi_id == kpi_id)
                & (tolerances.effective_from <= row["month"])
                & (tolerances.effective_to.isna() | (row["month"] < tolerances.effective_to)),
                "amber_tolerance",
            ]
            assert len(tolerance) == 1, (kpi_id, row["month"])
            for prefix, start in (
                ("ytd", row["month"].replace(month=1)),
                ("qtd", row["month"].replace(month=3 * ((row["month"].month - 1) // 3) + 1)),
            ):
                window = series[(series.month >= start) & (series.month <= row["month"])]
                all_targets = window.target.notna().all()
                if method == "period_end":
                    value, target = row["value"], row["target"]
                elif method == "sum":
                    value = window.numerator.sum()
                    target = window.target.sum() if all_targets else np.nan
                else:
                    den = window.denominator.sum()
                    value = window.numerator.sum() / den if den else np.nan
                    if window.target.nunique() == 1:
                        weighted = window.target.iloc[0]
                    else:
                        weighted = (
                            (window.target * window.denominator).sum() / den if den else np.nan
                        )
                    target = weighted if all_targets else np.nan
                out[f"{prefix}_months"] = len(window)
                out[f"{prefix}_value"] = value
                out[f"{prefix}_target"] = target
                out[f"{prefix}_status"] = status(value, target, row["direction"], tolerance.iloc[0])
            rows.append(out)
    return pd.DataFrame(rows)


def test_period_to_date_recomputed_from_the_months(published):
    ids = ", ".join(f"'{k}'" for k in METHODS)
    months = read(
        published,
        "select v.kpi_id, v.dimension, v.dimension_value, v.period_start as month, "
        "v.numerator, v.denominator, v.value, v.target, d.direction "
        "from kpi.kpi_values v join kpi.kpi_definitions d on v.kpi_id = d.kpi_id and d.is_current "
        f"where v.grain = 'month' and v.kpi_id in ({ids})",
    )
    tolerances = read(
        published,
        "select kpi_id, effective_from, effective_to, amber_tolerance from kpi.kpi_targets "
        f"where dimension = 'all' and kpi_id in ({ids})",
    )
    actual = read(published, f"select * from kpi.kpi_period_to_date where kpi_id in ({ids})")
    expected = expected_windows(months, tolerances)

    # One row per month row of kpi_values, for every KPI.
    every_month = read(published, "select count(*) as n from kpi.kpi_values where grain = 'month'")
    every_window = read(published, "select count(*) as n from kpi.kpi_period_to_date")
    assert every_window.n[0] == every_month.n[0]
    assert len(actual) == len(expected) > 0

    merged = expected.merge(actual, on=KEY, suffixes=("_expected", ""), validate="1:1")
    assert len(merged) == len(expected)
    assert (merged.to_date_method == merged.kpi_id.map(METHODS)).all()
    for column in ["ytd_value", "ytd_target", "qtd_value", "qtd_target"]:
        close = np.isclose(
            merged[column].astype(float),
            merged[f"{column}_expected"].astype(float),
            rtol=1e-9,
            atol=1e-9,
            equal_nan=True,
        )
        assert close.all(), merged.loc[~close, [*KEY, column, f"{column}_expected"]].head()
    for column in ["ytd_status", "qtd_status", "ytd_months", "qtd_months"]:
        wrong = merged[column] != merged[f"{column}_expected"]
        assert not wrong.any(), merged.loc[wrong, [*KEY, column, f"{column}_expected"]].head()

    # The data cover whole years and cross quarter boundaries: the windows are not just
    # the month itself, and a year to date of a flow is more than its month.
    revenue = merged[(merged.kpi_id == "revenue") & (merged.dimension == "all")]
    assert (revenue.ytd_months == 12).any() and (revenue.qtd_months == 3).any()
    longer = revenue[revenue.ytd_months > revenue.qtd_months]
    assert len(longer) > 0 and (longer.ytd_value > longer.qtd_value).all()
    assert set(merged.ytd_status) >= {"green", "no_target"}
    assert merged.ytd_status.isin(["amber", "red"]).any()
