"""As reported and as restated, through the real command line.

One warehouse is built by `kpi-warehouse run` on generated landing data; then a late
delivery cancels an order of a closed month and the pipeline runs again; then a new dated
target entry is added to the registry (in a copy of the dbt project) and it runs a third
time. Each step is read back from the published copy.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from orchestration.settings import DBT_PROJECT_DIR, published_path_for

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "orchestration.cli"]
KEY = ["kpi_id", "grain", "period_start", "dimension", "dimension_value"]
LATE_FILE = "2026-11-01.csv"
MONTH = "2026-03-01"
NEW_ENTRY_FROM = "2026-10-01"
# Below October's backlog at this scale, so October's status turns.
NEW_BACKLOG_TARGET = 0.5
SCORECARD_MONTH = "2026-10"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, **(env or {})},
    )


def read(path: Path, sql: str, params: list | None = None) -> pd.DataFrame:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).df()
    finally:
        con.close()


def _cancel_an_order_of(month: str, warehouse: Path, landing: Path) -> tuple[str, float]:
    """Deliver late a correction that cancels the biggest fulfilled order of ``month``."""
    order = read(
        warehouse,
        "select o.*, f.revenue_usd from staging.stg_sales__orders o "
        "join marts.fct_orders f using (order_id) "
        "where f.status = 'fulfilled' and f.is_convertible "
        "and o.ordered_at >= cast(? as date) and o.ordered_at < cast(? as date) + interval 1 month "
        "and o.updated_at < timestamp '2026-10-30' "
        "order by f.revenue_usd desc limit 1",
        [month, month],
    ).iloc[0]
    columns = [
        "order_id", "account_id", "ordered_at", "status", "channel", "region",
        "sales_rep_id", "currency", "fulfilled_at", "updated_at",
    ]  # fmt: skip

    def text(value) -> str:
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            return ""
        if isinstance(value, pd.Timestamp):
            return value.strftime("%Y-%m-%dT%H:%M:%SZ")
        return str(value)

    row = {c: text(order[c]) for c in columns}
    row["status"] = "cancelled"
    row["updated_at"] = "2026-10-30T12:00:00Z"
    with (landing / "sales" / "orders" / LATE_FILE).open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerow(row)
    return row["order_id"], float(order["revenue_usd"])


def _add_backlog_target_entry(project: Path) -> None:
    """Append a dated entry to ticket_backlog's targets in a copy of the registry."""
    registry = project / "models" / "marts" / "kpis" / "_kpis__models.yml"
    text = registry.read_text()
    start = text.index("id: ticket_backlog")
    reason = text.index("            reason:", text.index("          targets:", start))
    end = text.index("\n", reason) + 1
    entry = (
        f"          - effective_from: '{NEW_ENTRY_FROM}'\n"
        f"            target: {NEW_BACKLOG_TARGET}\n"
        "            amber_tolerance: 0.2\n"
        "            reason: Support staffing doubled from October; the backlog must follow.\n"
    )
    registry.write_text(text[:end] + entry + text[end:])


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    from orchestration.demo.generator import generate

    root = tmp_path_factory.mktemp("restate")
    landing = root / "landing"
    generate(landing, scale=0.02, seed=5)
    warehouse = root / "warehouse.duckdb"
    published = published_path_for(warehouse)
    run = ["run", "--landing-dir", str(landing), "--warehouse", str(warehouse)]

    first = run_cli(*run)
    assert first.returncode == 0, first.stderr[-4000:]
    values_1 = read(published, "select * from kpi.kpi_values")
    reported_1 = read(published, "select * from kpi.kpi_values_reported")
    restatements_1 = read(published, "select * from kpi.kpi_restatements")

    reports = root / "reports"
    report = ["report", "--warehouse", str(warehouse), "--out", str(reports)]
    scorecard_1 = run_cli(*report, "--month", SCORECARD_MONTH)
    assert scorecard_1.returncode == 0, scorecard_1.stderr[-4000:]
    scorecard_1_bytes = Path(scorecard_1.stdout.strip().splitlines()[-1]).read_bytes()

    order_id, order_revenue = _cancel_an_order_of(MONTH, warehouse, landing)
    second = run_cli(*run)
    assert second.returncode == 0, second.stderr[-4000:]
    scorecard_2 = run_cli(*report, "--month", SCORECARD_MONTH)
    assert scorecard_2.returncode == 0, scorecard_2.stderr[-4000:]
    april = run_cli(*report, "--month", "2026-04")
    assert april.returncode == 0, april.stderr[-4000:]
    values_2 = read(published, "select * from kpi.kpi_values")
    reported_2 = read(published, "select * from kpi.kpi_values_reported")
    restatements_2 = read(published, "select * from kpi.kpi_restatements")

    project = root / "dbt_project"
    shutil.copytree(
        DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    _add_backlog_target_entry(project)
    third = run_cli(*run, env={"KPI_DBT_PROJECT_DIR": str(project)})
    assert third.returncode == 0, third.stderr[-4000:]

    return {
        "root": root,
        "landing": landing,
        "warehouse": warehouse,
        "published": published,
        "reports": reports,
        "scorecard_1": Path(scorecard_1.stdout.strip().splitlines()[-1]),
        "scorecard_1_bytes": scorecard_1_bytes,
        "scorecard_2": Path(scorecard_2.stdout.strip().splitlines()[-1]),
        "april": Path(april.stdout.strip().splitlines()[-1]),
        "order_id": order_id,
        "order_revenue": order_revenue,
        "values_1": values_1,
        "reported_1": reported_1,
        "restatements_1": restatements_1,
        "values_2": values_2,
        "reported_2": reported_2,
        "restatements_2": restatements_2,
        "values_3": read(published, "select * from kpi.kpi_values"),
        "reported_3": read(published, "select * from kpi.kpi_values_reported"),
        "restatements_3": read(published, "select * from kpi.kpi_restatements"),
        "targets_3": read(published, "select * from kpi.kpi_targets"),
    }


def _row(df: pd.DataFrame, kpi_id: str, grain: str, period_start: str) -> pd.Series:
    mine = df[
        (df.kpi_id == kpi_id)
        & (df.grain == grain)
        & (df.period_start == pd.Timestamp(period_start))
        & (df.dimension == "all")
    ]
    assert len(mine) == 1, (kpi_id, grain, period_start, len(mine))
    return mine.iloc[0]


def test_a_first_publication_reports_every_complete_period_and_restates_nothing(scenario):
    values, reported = scenario["values_1"], scenario["reported_1"]
    complete = values[values.is_complete]
    assert len(reported) == len(complete) > 0
    merged = complete.merge(reported, on=KEY, suffixes=("", "_reported"))
    assert len(merged) == len(complete)
    assert (merged.status == merged.status_reported).all()
    assert reported.run_id.notna().all() and reported.reported_at.notna().all()
    assert scenario["restatements_1"].empty


def test_a_late_delivery_restates_the_closed_month_with_reason_data(scenario):
    before = _row(scenario["values_1"], "revenue", "month", MONTH)
    after = _row(scenario["values_2"], "revenue", "month", MONTH)
    assert after.value == pytest.approx(before.value - scenario["order_revenue"], abs=0.01)

    reported = _row(scenario["reported_2"], "revenue", "month", MONTH)
    first = _row(scenario["reported_1"], "revenue", "month", MONTH)
    assert reported.value == before.value
    assert reported.reported_at == first.reported_at and reported.run_id == first.run_id

    restated = _row(scenario["restatements_2"], "revenue", "month", MONTH)
    assert restated.reported_value == before.value
    assert restated.current_value == after.value
    assert restated.reported_status == before.status
    assert restated.current_status == after.status
    assert restated.reason == "data"
    assert restated.detail == f"delivery files loaded since: sales/orders/{LATE_FILE}"
    assert restated.reported_at == first.reported_at < restated.restated_at
    # The quarter holding the month is closed too; the year 2026 is not, so it is not
    # a restatement (it was never reported).
    assert _row(scenario["restatements_2"], "revenue", "quarter", "2026-01-01").reason == "data"
    assert not (scenario["restatements_2"].grain == "year").any()


def test_only_keys_whose_value_or_status_moved_are_restatements(scenario):
    restatements = scenario["restatements_2"]
    assert set(restatements.reason) == {"data"}
    # Every restated key is a closed period of the first quarter, which holds the
    # cancelled order's order and fulfilment dates.
    assert restatements.period_start.between(
        pd.Timestamp("2026-01-01"), pd.Timestamp(MONTH) + pd.offsets.MonthEnd(0)
    ).all()
    assert (restatements.grain != "year").all()
    merged = scenario["values_2"].merge(scenario["reported_2"], on=KEY, suffixes=("", "_r"))
    # Half the last digit shown, by unit (the var restatement_decimals).
    digits = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"][
        "restatement_decimals"
    ]
    units = read(scenario["published"], "select kpi_id, unit from kpi.kpi_definitions")
    half = merged.kpi_id.map(
        {k: 0.5 * 10.0 ** -digits[u] for k, u in zip(units.kpi_id, units.unit, strict=True)}
    )
    moved = merged[
        ((merged.value - merged.value_r).abs() >= half)
        | (merged.value.isna() != merged.value_r.isna())
        | (merged.status != merged.status_r)
    ]
    assert len(restatements) == len(moved) > 0
    assert set(restatements.kpi_id) <= {
        "revenue", "average_order_value", "gross_margin_rate", "customer_retention_rate",
        "order_completion_time_days", "on_time_delivery_rate",
    }  # fmt: skip


def test_a_new_target_entry_changes_no_past_status(scenario):
    before, after = scenario["values_2"], scenario["values_3"]
    merged = before.merge(after, on=KEY, suffixes=("", "_new"))
    assert len(merged) == len(before) == len(after)
    past = merged[merged.period_start < pd.Timestamp(NEW_ENTRY_FROM)]
    assert (past.status == past.status_new).all()
    assert ((past.target == past.target_new) | (past.target.isna() & past.target_new.isna())).all()

    later = merged[merged.period_start >= pd.Timestamp(NEW_ENTRY_FROM)]
    backlog = later[(later.kpi_id == "ticket_backlog") & (later.dimension == "all")]
    assert len(backlog) > 0 and (backlog.target_new == NEW_BACKLOG_TARGET).all()
    assert (backlog.target == 75.0).all()
    # Its slices have no target whichever entry is in force (a count's slice).
    slices = merged[(merged.kpi_id == "ticket_backlog") & (merged.dimension != "all")]
    assert slices.target_new.isna().all() and (slices.status_new == "no_target").all()
    others = later[later.kpi_id != "ticket_backlog"]
    assert (others.status == others.status_new).all()


def test_kpi_targets_dates_the_new_entry(scenario):
    targets = scenario["targets_3"]
    backlog = targets[targets.kpi_id == "ticket_backlog"].sort_values("effective_from")
    assert list(backlog.dimension) == ["all", "all"]
    assert list(backlog.target) == [75.0, NEW_BACKLOG_TARGET]
    assert backlog.effective_to.iloc[0] == pd.Timestamp(NEW_ENTRY_FROM)
    assert backlog.effective_from.iloc[1] == pd.Timestamp(NEW_ENTRY_FROM)
    assert pd.isna(backlog.effective_to.iloc[1])


def test_a_target_restatement_only_where_the_new_entry_judged_a_reported_period(scenario):
    restatements = scenario["restatements_3"]
    by_target = restatements[restatements.reason == "target"]
    assert set(by_target.kpi_id) == {"ticket_backlog"}
    assert (by_target.period_start >= pd.Timestamp(NEW_ENTRY_FROM)).all()
    assert by_target.detail.str.startswith(
        f"target entry from {NEW_ENTRY_FROM}: target {NEW_BACKLOG_TARGET}"
    ).all()
    # October was reported against 75 and is judged against 10 now.
    october = _row(by_target, "ticket_backlog", "month", NEW_ENTRY_FROM)
    assert october.reported_status != october.current_status
    # The data restatement of March is still there, unchanged.
    data = restatements[restatements.reason == "data"]
    pd.testing.assert_frame_equal(
        data.sort_values(KEY).reset_index(drop=True),
        scenario["restatements_2"].sort_values(KEY).reset_index(drop=True),
    )
    # What was reported never changes.
    reported = scenario["reported_3"].merge(scenario["reported_2"], on=KEY, suffixes=("", "_2"))
    assert len(reported) == len(scenario["reported_2"])
    assert (reported.reported_at == reported.reported_at_2).all()
    assert ((reported.value == reported.value_2) | reported.value.isna()).all()


def test_the_history_keeps_every_state_and_the_published_values_at_any_moment(scenario):
    history = read(scenario["warehouse"], "select * from history.kpi_values_history")
    publications = sorted(history.dbt_valid_from.unique())
    assert len(publications) == 3
    # The values published at the first moment are exactly the first run's kpi_values.
    t = publications[0]
    at_t = history[
        (history.dbt_valid_from <= t) & (history.dbt_valid_to.isna() | (t < history.dbt_valid_to))
    ]
    first = scenario["values_1"]
    merged = first.merge(at_t, on=KEY, suffixes=("", "_h"))
    assert len(merged) == len(first) == len(at_t)
    assert ((merged.value == merged.value_h) | merged.value.isna()).all()
    assert (merged.status == merged.status_h).all()


# --- the scorecard -----------------------------------------------------------------------


def pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_a_restated_month_gets_a_new_scorecard_revision_beside_the_first(scenario):
    month_dir = scenario["reports"] / SCORECARD_MONTH
    first, second = scenario["scorecard_1"], scenario["scorecard_2"]
    assert first == month_dir / f"scorecard-{SCORECARD_MONTH}.pdf"
    assert second == month_dir / f"scorecard-{SCORECARD_MONTH}-r2.pdf"
    assert first.read_bytes() == scenario["scorecard_1_bytes"]

    manifest = json.loads((month_dir / "manifest.json").read_text())
    revisions = manifest["revisions"][first.name]
    assert [r["file"] for r in revisions] == [first.name, second.name]
    assert revisions[0]["reason"] == "first rendering"
    reason = revisions[1]["reason"]
    assert reason.startswith(f"numbers differ from {first.name} for ")
    assert "revenue" in reason and f"revenue {MONTH[:7]} (data: " in reason
    assert set(manifest["files"]) == {first.name, second.name}
    assert (
        manifest["files"][first.name]["sha256"]
        == hashlib.sha256(scenario["scorecard_1_bytes"]).hexdigest()
    )


def test_the_scorecard_lists_the_restatements_since_the_last_one(scenario):
    text = pdf_text(scenario["scorecard_2"])
    assert "Restatements" in text
    page = text[text.index("Months whose figure changed after it was reported") :]
    restated = _row(scenario["restatements_2"], "revenue", "month", MONTH)
    reported = f"${restated.reported_value:,.0f}"
    current = f"${restated.current_value:,.0f}"
    lines = [line for line in page.splitlines() if "Net revenue" in line and "Mar 2026" in line]
    assert len(lines) == 1, page[:3000]
    assert reported in lines[0] and current in lines[0] and " data " in lines[0]
    # The first scorecard was rendered before anything was restated.
    assert "Months whose figure changed" not in pdf_text(scenario["scorecard_1"])


def test_a_comparison_against_a_restated_month_is_marked(scenario):
    summary = pdf_text(scenario["april"]).split("\f")[0]
    assert "compared with a restated month" in summary
    revenue = [line for line in summary.splitlines() if "Net revenue" in line]
    assert len(revenue) == 1 and "\u2021" in revenue[0]
    unmarked = [line for line in summary.splitlines() if "Cost per lead" in line]
    assert len(unmarked) == 1 and "\u2021" not in unmarked[0]
