"""A small fixed landing set whose monthly KPI values were worked out by hand.

The arithmetic is in the comments next to each expectation; the run goes through the
real command line with an explicit as-of date (cut-off 2025-02-16 00:00 UTC).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.slow

FILES = {
    "crm/accounts/2025-02-15.csv": """account_id,account_name,segment,region,created_at,churned_at,updated_at
A1,Alpha,smb,emea,2024-12-01T09:00:00Z,2025-01-20T12:00:00Z,2025-01-20T12:00:00Z
A2,Beta,enterprise,apac,2024-12-15T09:00:00Z,,2024-12-15T09:00:00Z
A3,Gamma,mid_market,emea,2025-01-10T09:00:00Z,,2025-01-10T09:00:00Z
""",
    "sales/products/2025-01-01.csv": """product_id,product_name,category,unit_cost,updated_at
P1,Widget,hardware,40,2025-01-01T00:00:00Z
""",
    "sales/fx_rates/2025-01-10.csv": """rate_date,currency,usd_per_unit
2025-01-01,EUR,1.1
2025-01-10,EUR,1.2
""",
    # O2 is ordered at 23:30 on the 20th at UTC-2, i.e. 01:30 UTC on the 21st.
    "sales/orders/2025-02-15.csv": """order_id,account_id,ordered_at,status,channel,region,currency,fulfilled_at,updated_at
O1,A1,2025-01-05T10:00:00Z,placed,online,emea,EUR,,2025-01-05T10:00:00Z
O2,A2,2025-01-20T23:30:00-02:00,fulfilled,direct,apac,USD,2025-01-23T01:30:00Z,2025-01-23T01:30:00Z
O3,A3,2025-02-03T08:00:00Z,cancelled,online,emea,USD,,2025-02-03T08:00:00Z
""",
    "sales/order_lines/2025-02-15.csv": """order_id,line_number,product_id,quantity,unit_price,discount_amount
O1,1,P1,2,100,10
O1,2,P9,1,50,
O2,1,P1,1,300,0
O3,1,P1,5,10,0
""",
    "sales/sales_targets/2025-01-01.csv": """target_month,region,revenue_target
2025-01-01,emea,250
2025-01-01,apac,320
2025-03-01,emea,100
""",
    "crm/sla_policies/2025-01-01.csv": """priority,first_response_hours,resolution_hours
high,4,72
""",
    # T2's first response comes after the cut-off: it has not happened yet.
    "crm/tickets/2025-02-15.csv": """ticket_id,created_at,priority,channel,first_response_at,resolved_at,satisfaction_score,updated_at
T1,2025-01-30T22:00:00Z,high,email,2025-01-31T01:00:00Z,2025-02-02T22:00:00Z,4,2025-02-02T22:00:00Z
T2,2025-01-31T12:00:00Z,normal,chat,2025-02-16T01:00:00Z,,,2025-02-16T01:00:00Z
""",
}


@pytest.fixture(scope="module")
def values(tmp_path_factory):
    landing = tmp_path_factory.mktemp("hand_landing")
    for name, text in FILES.items():
        path = landing / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    warehouse = tmp_path_factory.mktemp("hand_wh") / "warehouse.duckdb"
    result = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "run", "--landing-dir", str(landing),
         "--warehouse", str(warehouse), "--as-of", "2025-02-15"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    published = Path(result.stdout.strip().splitlines()[-1].removeprefix("published: "))
    con = duckdb.connect(str(published), read_only=True)
    rows = con.execute(
        "select kpi_id, grain, cast(period_start as varchar), dimension, dimension_value, "
        "numerator, denominator, value, target, status, is_complete from kpi.kpi_values"
    ).fetchall()
    con.close()
    return {
        r[:5]: dict(
            zip(["num", "den", "value", "target", "status", "complete"], r[5:], strict=True)
        )
        for r in rows
    }


def get(values, kpi, period, grain="month", dimension="all", value="all"):
    return values[(kpi, grain, period, dimension, value)]


def test_revenue_converts_at_the_rate_in_force_and_uses_the_plan(values):
    # O1: (2*100-10 + 1*50) EUR at the 2025-01-01 rate 1.1 = 264; O2: 300 USD; O3 cancelled.
    jan = get(values, "revenue", "2025-01-01")
    assert jan["value"] == pytest.approx(564.0)
    assert jan["den"] is None
    # Plan for January: 250 + 320 = 570; 564 >= 570 - 5% of 570 = 541.5 -> amber.
    assert jan["target"] == pytest.approx(570.0) and jan["status"] == "amber"
    # apac: 300 against 320; 300 < 304 -> red.
    apac = get(values, "revenue", "2025-01-01", dimension="region", value="apac")
    assert (apac["value"], apac["target"], apac["status"]) == (300.0, 320.0, "red")
    # Q1 plan sums every month row inside it, March included: 570 + 100 = 670.
    q1 = get(values, "revenue", "2025-01-01", grain="quarter")
    assert q1["target"] == pytest.approx(670.0) and q1["value"] == pytest.approx(564.0)
    # February has no plan rows and no qualifying orders: 0 revenue, no target.
    feb = get(values, "revenue", "2025-02-01")
    assert (feb["value"], feb["target"], feb["status"]) == (0.0, None, "no_target")
    # O2 falls on 2025-01-21 in UTC, not the 20th.
    assert get(values, "revenue", "2025-01-21", grain="day")["value"] == pytest.approx(300.0)
    assert get(values, "revenue", "2025-01-20", grain="day")["value"] == 0.0


def test_average_order_value_and_gross_margin(values):
    assert get(values, "average_order_value", "2025-01-01")["value"] == pytest.approx(282.0)
    # Known-product lines only: O1 line 1 = 190 EUR * 1.1 = 209 (cost 80), O2 = 300 (cost 40).
    gm = get(values, "gross_margin_rate", "2025-01-01")
    assert gm["num"] == pytest.approx(389.0) and gm["den"] == pytest.approx(509.0)
    assert gm["value"] == pytest.approx(389.0 / 509.0)


def test_order_completion_time_in_days(values):
    # O2: 2025-01-21 01:30 -> 2025-01-23 01:30 UTC = 2 days.
    assert get(values, "order_completion_time_days", "2025-01-01")["value"] == pytest.approx(2.0)


def test_retention_excludes_accounts_lost_before_the_period(values):
    # January: active at Jan 1 = A1, A2; A1 churned on Jan 20 -> 1 / 2.
    jan = get(values, "customer_retention_rate", "2025-01-01")
    assert (jan["num"], jan["den"], jan["value"]) == (1.0, 2.0, 0.5)
    # February: A2 and A3 active at Feb 1, both still active at the cut-off -> 2 / 2.
    feb = get(values, "customer_retention_rate", "2025-02-01")
    assert (feb["num"], feb["den"], feb["value"]) == (2.0, 2.0, 1.0)
    assert feb["complete"] is False


def test_ticket_kpis_respect_the_cut_off(values):
    # Backlog at Feb 1: T1 and T2 open; at the cut-off T1 is resolved.
    assert get(values, "ticket_backlog", "2025-01-01")["value"] == 2.0
    assert get(values, "ticket_backlog", "2025-02-01")["value"] == 1.0
    # First response: T1 in 3 h; T2's response is after the cut-off, so only T1 counts.
    frt = get(values, "first_response_time_hours", "2025-01-01")
    assert (frt["num"], frt["den"], frt["value"]) == (3.0, 1.0, 3.0)
    # T1 resolved in exactly 72 h against a 72 h policy: compliant.
    assert get(values, "sla_compliance_rate", "2025-02-01")["value"] == 1.0
    assert get(values, "csat_score", "2025-02-01")["value"] == 4.0


def test_kpis_without_data_publish_every_period_as_no_data(values):
    for kpi in ("win_rate", "defect_rate", "attendance_rate", "on_time_delivery_rate"):
        row = get(values, kpi, "2025-01-01")
        assert row["num"] == 0 and row["den"] == 0 and row["value"] is None
        assert row["status"] == "no_data"
    # The calendar starts with the month of the earliest anchor (A1, 2024-12-01).
    assert get(values, "win_rate", "2024-12-01")["status"] == "no_data"
    assert ("win_rate", "month", "2024-11-01", "all", "all") not in values
