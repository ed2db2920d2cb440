"""Checks of the reference KPI implementation itself, on tiny hand-made landing sets
whose numbers are worked out by hand in the comments."""

from __future__ import annotations

import math
import textwrap
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

# With tests/__init__.py pytest puts the project root on sys.path; without it, tests/.
try:
    from tests.reference import (
        LandingFileError,
        broken_deliveries,
        compute_kpi_values,
        load_landing,
        load_landing_detailed,
        nonzero_slices,
    )
    from tests.reference.kpis import HIGHER, LOWER, status_of
except ImportError:  # pragma: no cover - depends on the layout of tests/
    from reference import (
        LandingFileError,
        broken_deliveries,
        compute_kpi_values,
        load_landing,
        load_landing_detailed,
        nonzero_slices,
    )
    from reference.kpis import HIGHER, LOWER, status_of


def put(root: Path, entity: str, name: str, text: str) -> None:
    """Write one CSV delivery file ``<root>/<system>/<entity>/<name>``."""
    folder = root / entity
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


def one(df: pd.DataFrame, kpi: str, grain: str, start: str, dim="all", value="all") -> pd.Series:
    rows = df[
        (df.kpi_id == kpi)
        & (df.grain == grain)
        & (df.period_start == date.fromisoformat(start))
        & (df.dimension == dim)
        & (df.dimension_value == value)
    ]
    assert len(rows) == 1, f"{kpi} {grain} {start} {dim}={value}: {len(rows)} rows"
    return rows.iloc[0]


def close(actual: float, expected: float | None) -> bool:
    if expected is None:
        return actual is None or (isinstance(actual, float) and math.isnan(actual))
    return actual == pytest.approx(expected, rel=1e-12, abs=1e-12)


# --- revenue, fx, average order value, gross margin ------------------------------------------

ORDERS_HEADER = "order_id,account_id,ordered_at,status,channel,region,currency,updated_at"


@pytest.fixture
def revenue_landing(tmp_path: Path) -> Path:
    put(
        tmp_path,
        "sales/orders",
        "2024-01-31.csv",
        f"""
        {ORDERS_HEADER}
        o1,a1,2024-01-05T10:00:00Z,placed,online,EU,USD,2024-01-05T10:00:00Z
        o2,a1,2024-01-15T12:00:00,fulfilled,direct,EU,EUR,2024-01-15T12:00:00
        o3,a2,2024-01-03T08:00:00,placed,online,US,GBP,2024-01-03T08:00:00
        o4,a2,2024-01-04T08:00:00,placed,online,US,JPY,2024-01-04T08:00:00
        o5,a2,2024-01-04T09:00:00,cancelled,online,US,USD,2024-01-04T09:00:00
        o6,a1,2024-01-06T09:00:00,placed,online,EU,USD,2024-01-06T09:00:00
        o7,a1,2024-01-05T23:30:00-02:00,placed,online,EU,EUR,2024-01-06T01:30:00
        o8,a1,2024-01-20T00:00:00,placed,online,EU,EUR,2024-01-20T00:00:00
        """,
    )
    put(
        tmp_path,
        "sales/order_lines",
        "2024-01-31.csv",
        """
        order_id,line_number,product_id,quantity,unit_price,discount_amount
        o1,1,p1,2,10.00,1.00
        o1,2,pX,1,5.50,
        o2,1,p2,1,100,
        o3,1,p1,4,25,
        o4,1,p1,1,1000,
        o5,1,p1,1,1000,
        o7,1,p2,10,1,
        o8,1,pX,1,10,
        """,
    )
    put(
        tmp_path,
        "sales/products",
        "p.csv",
        """
        product_id,product_name,category,unit_cost,updated_at
        p1,Widget,tools,4,2024-01-01T00:00:00
        p2,Gadget,tools,1,2024-01-01T00:00:00
        """,
    )
    # EUR moves during January; GBP's first rate comes after the GBP order; JPY has
    # none; a USD row must be ignored because USD is always 1.
    put(
        tmp_path,
        "sales/fx_rates",
        "fx.csv",
        """
        rate_date,currency,usd_per_unit
        2024-01-01,EUR,1.1000
        2024-01-10,EUR,1.2000
        2024-01-20,EUR,1.3000
        2024-02-01,GBP,1.2500
        2024-01-01,USD,2.0000
        """,
    )
    put(
        tmp_path,
        "sales/sales_targets",
        "t.csv",
        """
        target_month,region,revenue_target
        2024-01-01,EU,100
        2024-01-01,US,200
        2024-02-01,EU,50
        2025-01-01,EU,999
        """,
    )
    return tmp_path


def test_revenue_with_fx(revenue_landing: Path) -> None:
    df = compute_kpi_values(revenue_landing, default_targets={"revenue": (None, 0.05)})
    # o1 USD: 2×10−1 + 1×5.50 = 24.50
    # o2 EUR 2024-01-15: 100 × 1.2 (rate of 01-10)        = 120.00
    # o3 GBP 2024-01-03: no rate yet → earliest 1.25 × 100 = 125.00
    # o4 JPY: no rate at all → left out; o5 cancelled → not qualifying
    # o6 USD without lines = 0; o7 is 2024-01-06 01:30 UTC: 10 × 1.1 = 11.00
    # o8 EUR exactly on 2024-01-20: rate of that day, 10 × 1.3 = 13.00
    month = one(df, "revenue", "month", "2024-01-01")
    assert close(month.numerator, 293.50) and close(month.value, 293.50)
    assert math.isnan(month.denominator)
    assert one(df, "revenue", "month", "2024-01-01", "region", "EU").value == 168.50
    assert one(df, "revenue", "month", "2024-01-01", "region", "US").value == 125.00
    assert one(df, "revenue", "month", "2024-01-01", "channel", "direct").value == 120.00
    # The offset moves o7 to 2024-01-06 (with o6's 0); o1 stays alone on 2024-01-05.
    assert one(df, "revenue", "day", "2024-01-06").value == 11.00
    assert one(df, "revenue", "day", "2024-01-05").value == 24.50
    # A day without orders is 0, and the next day's previous_value says so.
    assert one(df, "revenue", "day", "2024-01-07").value == 0
    assert one(df, "revenue", "day", "2024-01-08").previous_value == 0
    assert math.isnan(one(df, "revenue", "day", "2024-01-03").previous_value)  # first day

    # Average order value: 6 orders (o1 o2 o3 o6 o7 o8; JPY o4 out of both sides).
    aov = one(df, "average_order_value", "month", "2024-01-01")
    assert aov.denominator == 6 and close(aov.value, 293.50 / 6)
    aov_day = one(df, "average_order_value", "day", "2024-01-07")
    assert aov_day.numerator == 0 and aov_day.denominator == 0 and math.isnan(aov_day.value)
    assert aov_day.status == "no_data"
    assert math.isnan(one(df, "average_order_value", "day", "2024-01-08").previous_value)
    # The US slice holds o3 only (o4 is left out).
    assert one(df, "average_order_value", "month", "2024-01-01", "region", "US").denominator == 1

    # Gross margin over known products only: revenue 19 + 120 + 125 + 11 = 275,
    # cost 2×4 + 1×1 + 4×4 + 10×1 = 35.
    margin = one(df, "gross_margin_rate", "month", "2024-01-01")
    assert margin.denominator == 275 and margin.numerator == 240
    assert close(margin.value, 240 / 275)


def test_revenue_targets(revenue_landing: Path) -> None:
    df = compute_kpi_values(revenue_landing, default_targets={"revenue": (123.0, 0.05)})
    # Month as written; 293.50 ≥ 300 − 15 → amber.
    month = one(df, "revenue", "month", "2024-01-01")
    assert month.target == 300 and close(month.variance, -6.5) and month.status == "amber"
    assert one(df, "revenue", "month", "2024-01-01", "region", "EU").status == "green"
    us = one(df, "revenue", "month", "2024-01-01", "region", "US")
    assert us.target == 200 and us.status == "red"
    # Quarter and year add every month row inside them, future months included.
    assert one(df, "revenue", "quarter", "2024-01-01").target == 350
    assert one(df, "revenue", "year", "2024-01-01").target == 350
    assert one(df, "revenue", "quarter", "2024-01-01", "region", "EU").target == 150
    # No target for day, week, channel slices; the default never applies to revenue.
    for row in (
        one(df, "revenue", "day", "2024-01-05"),
        one(df, "revenue", "week", "2024-01-01"),
        one(df, "revenue", "month", "2024-01-01", "channel", "online"),
    ):
        assert math.isnan(row.target) and row.status == "no_target"


def test_currency_without_rate_leaves_only_the_spend_row_out(tmp_path: Path) -> None:
    put(
        tmp_path,
        "crm/marketing_spend",
        "s.csv",
        """
        spend_date,channel,region,amount,currency
        2024-03-01,web,EU,100,USD
        2024-03-01,event,EU,50,EUR
        2024-03-02,web,EU,70,XXX
        """,
    )
    put(tmp_path, "sales/fx_rates", "fx.csv", "rate_date,currency,usd_per_unit\n2024-03-05,EUR,2\n")
    put(
        tmp_path,
        "crm/leads",
        "l.csv",
        """
        lead_id,created_at,source,region,status,updated_at
        l1,2024-03-01T10:00:00,web,EU,open,2024-03-01T10:00:00
        l2,2024-03-02T10:00:00,web,EU,open,2024-03-02T10:00:00
        l3,2024-03-02T11:00:00,event,EU,open,2024-03-02T11:00:00
        """,
    )
    df = compute_kpi_values(tmp_path)
    # 100 USD + 50 EUR × 2 (earliest rate); the XXX row is out, its leads still count.
    month = one(df, "cost_per_lead", "month", "2024-03-01")
    assert month.numerator == 200 and month.denominator == 3 and close(month.value, 200 / 3)
    day2 = one(df, "cost_per_lead", "day", "2024-03-02", "channel", "web")
    assert day2.numerator == 0 and day2.denominator == 1 and day2.value == 0


# --- deduplication and invalid rows ----------------------------------------------------------


def test_deduplication(tmp_path: Path) -> None:
    # Byte order of names: "2024-01-10.csv" < "2024-01-9.csv" < "2024-01-99.parquet".
    put(
        tmp_path,
        "sales/orders",
        "2024-01-10.csv",
        f"""
        {ORDERS_HEADER}
        o1,a1,2024-01-05T10:00:00,placed,online,EU,USD,2024-01-05T10:00:00
        o2,a1,2024-01-05T10:00:00,placed,online,EU,USD,2024-01-06T00:00:00
        o3,a1,2024-01-05T10:00:00,placed,online,EU,USD,2024-01-06T00:00:00
        o3,a1,2024-01-05T10:00:00,placed,online,US,USD,2024-01-06T00:00:00
        o4,a1,2024-01-05T10:00:00,placed,online,EU,USD,2024-01-06T00:00:00
        o5,a1,2024-01-05T10:00:00,placed,online,EU,USD,2024-01-06T00:00:00
        """,
    )
    put(
        tmp_path,
        "sales/orders",
        "2024-01-9.csv",
        f"""
        {ORDERS_HEADER}
        o1,a1,2024-01-05T10:00:00,placed,online,US,USD,2024-01-04T00:00:00
        o2,a1,2024-01-05T10:00:00,placed,online,US,USD,2024-01-06T00:00:00
        o4,a1,2024-01-05T10:00:00,shipped,online,US,USD,2024-01-09T00:00:00
        """,
    )
    # A Parquet delivery with typed values: same updated_at as the CSV o5 (written
    # with an offset), so as the later delivery it wins.
    table = pa.table(
        {
            "order_id": ["o5"],
            "account_id": ["a1"],
            "ordered_at": pa.array(
                [pd.Timestamp("2024-01-05T12:00:00+02:00")], pa.timestamp("us", "+02:00")
            ),
            "status": [" fulfilled "],
            "channel": ["online"],
            "region": ["APAC"],
            "currency": ["USD"],
            "updated_at": ["2024-01-06T01:00:00+01:00"],
        }
    )
    pq.write_table(table, tmp_path / "sales/orders/2024-01-99.parquet")
    put(
        tmp_path,
        "sales/order_lines",
        "a.csv",
        """
        order_id,line_number,product_id,quantity,unit_price
        o1,1,p1,1,10
        o1,1,p1,2,10
        """,
    )
    put(
        tmp_path,
        "sales/order_lines",
        "b.csv",
        """
        order_id,line_number,product_id,quantity,unit_price
        o1,01,p1,3,10
        """,
    )
    orders = load_landing(tmp_path)["sales.orders"].set_index("order_id")
    assert orders.loc["o1", "region"] == "EU"  # greatest updated_at beats the later file
    assert orders.loc["o2", "region"] == "US"  # tie on updated_at: the later delivery
    assert orders.loc["o3", "region"] == "US"  # tie within one file: the later row
    assert orders.loc["o4", "region"] == "EU"  # an invalid row never replaces a valid one
    assert orders.loc["o5", "region"] == "APAC"
    assert orders.loc["o5", "status"] == "fulfilled"  # trimmed enum value is kept
    assert orders.loc["o5", "ordered_at"] == pd.Timestamp("2024-01-05T10:00:00")
    # Without updated_at: the later delivery wins ("01" is the same key as "1").
    lines = load_landing(tmp_path)["sales.order_lines"]
    assert lines["quantity"].tolist() == [3]
    df = compute_kpi_values(tmp_path)
    assert one(df, "revenue", "day", "2024-01-05").value == 30


def test_invalid_rows(tmp_path: Path) -> None:
    put(
        tmp_path,
        "sales/orders",
        "a.csv",
        """
        order_id,account_id,ordered_at,status,channel,region,currency,fulfilled_at,updated_at,extra
        ok1,a1,2024-01-05T10:00:00,placed,online,EU,USD,,2024-01-05T10:00:00,x
        ok2,a1,2024-01-05 11:00:00+00:00, placed ,online,EU,USD,,2024-01-05T11:00:00,x
        ,a1,2024-01-05T10:00:00,placed,online,EU,USD,,2024-01-05T10:00:00,null key
        b2,,2024-01-05T10:00:00,placed,online,EU,USD,,2024-01-05T10:00:00,null required
        b3,a1,05/01/2024,placed,online,EU,USD,,2024-01-05T10:00:00,bad timestamp
        b4,a1,2024-01-05T10:00:00,Placed,online,EU,USD,,2024-01-05T10:00:00,enum case
        b5,a1,2024-01-05T10:00:00,placed,online,EU,USD,soon,2024-01-05T10:00:00,bad optional
        b6,a1,2024-01-05T10:00:00,placed,online,EU,USD,2024-01-04T00:00:00,2024-01-05,rule
        b7,a1,2024-01-05T10:00:00,placed,online,EU,USD
        """,
    )
    put(
        tmp_path,
        "sales/order_lines",
        "a.csv",
        """
        order_id,line_number,product_id,quantity,unit_price,discount_amount
        ok1,1,p1,1,10.5,
        ok1,2,p1,0,10,
        ok1,3,p1,1,-1,
        ok1,4,p1,1,10,-2
        ok1,5,p1,1.0,10,
        ok2,1,p1,2,1.00005,
        b2,1,p1,1,1000,
        """,
    )
    loads = load_landing_detailed(tmp_path)
    orders = loads["sales.orders"]
    assert orders.delivered_rows == 9
    assert sorted(orders.valid["order_id"]) == ["ok1", "ok2"]
    assert [r.row for r in orders.invalid] == [3, 4, 5, 6, 7, 8, 9]
    lines = loads["sales.order_lines"]
    assert len(lines.invalid) == 4  # quantity 0, negative price, negative discount, "1.0"
    # 1.00005 has 5 decimals: rounded half away from zero to 1.0001.
    assert lines.valid.set_index("order_id").loc["ok2", "unit_price"] == Decimal("1.0001")
    df = compute_kpi_values(tmp_path)
    assert close(one(df, "revenue", "month", "2024-01-01").value, 10.5 + 2.0002)


def test_unreadable_delivery_file(tmp_path: Path) -> None:
    put(tmp_path, "sales/fx_rates", "a.csv", "rate_date,currency\n2024-01-01,EUR\n")
    with pytest.raises(LandingFileError) as error:
        load_landing(tmp_path)
    assert error.value.column == "usd_per_unit" and error.value.path.name == "a.csv"


# --- levels: backlog and retention ------------------------------------------------------------


@pytest.fixture
def tickets_landing(tmp_path: Path) -> Path:
    put(
        tmp_path,
        "crm/tickets",
        "t.csv",
        """
        ticket_id,created_at,priority,channel,first_response_at,resolved_at,satisfaction_score,updated_at
        t1,2024-01-10T09:00:00,high,email,2024-01-10T10:30:00,2024-02-05T00:00:00,,2024-02-05T00:00:00
        t2,2024-01-15T09:00:00,low,email,,,,2024-01-15T09:00:00
        t3,2024-01-20T09:00:00,high,chat,2024-01-20T09:00:00,2024-01-25T09:00:00,4,2024-01-25T09:00:00
        t4,2024-01-31T23:59:59,high,phone,,,,2024-01-31T23:59:59
        t5,2024-02-10T00:00:00,low,phone,,2024-02-29T12:00:00,5,2024-02-29T12:00:00
        t6,2024-01-05T00:00:00,low,chat,,2024-02-01T00:00:00,,2024-02-01T00:00:00
        """,
    )
    put(
        tmp_path,
        "crm/sla_policies",
        "s.csv",
        """
        priority,first_response_hours,resolution_hours
        high,1,120
        low,8,648
        """,
    )
    return tmp_path


def test_ticket_backlog_at_period_end(tickets_landing: Path) -> None:
    df = compute_kpi_values(tickets_landing, as_of=date(2024, 2, 29))
    # End of January (e = 2024-02-01): t1, t2, t4 (created 23:59:59) and t6, resolved
    # exactly at e, are open; t3 was resolved.
    jan = one(df, "ticket_backlog", "month", "2024-01-01")
    assert jan.value == 4 and math.isnan(jan.denominator)
    assert one(df, "ticket_backlog", "month", "2024-01-01", "priority", "high").value == 2
    # End of February (the cut-off 2024-03-01): t2 and t4; t5 was resolved on 02-29.
    feb = one(df, "ticket_backlog", "month", "2024-02-01")
    assert feb.value == 2 and feb.previous_value == 4 and feb.is_complete
    # A level, not a sum of days: end of 2024-01-25 has t1, t2, t6.
    assert one(df, "ticket_backlog", "day", "2024-01-25").value == 3
    assert one(df, "ticket_backlog", "quarter", "2024-01-01").value == 2


def test_ticket_times_and_sla(tickets_landing: Path) -> None:
    df = compute_kpi_values(tickets_landing, as_of=date(2024, 2, 29))
    # First response in January: t1 1.5 h and t3 0 h over 2 tickets.
    frt = one(df, "first_response_time_hours", "month", "2024-01-01")
    assert frt.numerator == 1.5 and frt.denominator == 2 and frt.value == 0.75
    # Resolved in February: t1 after 615 h (high: limit 120 → missed), t5 after 468 h,
    # t6 after exactly 648 h (low: limit 648 → met, the bound is inclusive).
    sla = one(df, "sla_compliance_rate", "month", "2024-02-01")
    assert sla.denominator == 3 and sla.numerator == 2
    csat = one(df, "csat_score", "month", "2024-02-01")
    assert csat.numerator == 5 and csat.denominator == 1


def test_cutoff_in_an_incomplete_period(tickets_landing: Path) -> None:
    df = compute_kpi_values(tickets_landing, as_of=date(2024, 2, 15))
    # Cut-off 2024-02-16: t5's resolution (02-29) has not happened yet, t1's has, so
    # t2, t4 and t5 are open at the (cut) end of February.
    feb = one(df, "ticket_backlog", "month", "2024-02-01")
    assert feb.value == 3 and not feb.is_complete
    assert one(df, "ticket_backlog", "day", "2024-02-15").is_complete
    assert one(df, "sla_compliance_rate", "month", "2024-02-01").denominator == 2
    assert df.period_start.max() == date(2024, 2, 15)


def test_customer_retention(tmp_path: Path) -> None:
    put(
        tmp_path,
        "crm/accounts",
        "a.csv",
        """
        account_id,account_name,segment,region,created_at,churned_at,updated_at
        a1,A1,smb,EU,2023-12-01T00:00:00,,2023-12-01T00:00:00
        a2,A2,smb,EU,2023-12-15T00:00:00,2024-01-20T00:00:00,2024-01-20T00:00:00
        a3,A3,smb,US,2023-11-01T00:00:00,2023-12-31T00:00:00,2023-12-31T00:00:00
        a4,A4,smb,US,2024-01-10T00:00:00,,2024-01-10T00:00:00
        a5,A5,enterprise,US,2023-10-01T00:00:00,2024-02-01T00:00:00,2024-02-01T00:00:00
        a6,A6,enterprise,US,2023-12-01T00:00:00,2024-03-10T00:00:00,2024-03-10T00:00:00
        a7,A7,enterprise,US,2023-12-20T00:00:00,2024-02-15T00:00:00,2024-02-15T00:00:00
        a8,A8,smb,US,2023-12-20T00:00:00,2023-12-19T00:00:00,2023-12-20T00:00:00
        """,
    )
    df = compute_kpi_values(tmp_path, as_of=date(2024, 2, 29))
    # January (s = 01-01, e = 02-01): active at s are a1 a2 a5 a6 a7 (a3 churned before,
    # a4 created after, a8 invalid: churned before created); a2 churned in January.
    jan = one(df, "customer_retention_rate", "month", "2024-01-01")
    assert (jan.numerator, jan.denominator, jan.value) == (4, 5, 0.8)
    # February: a1 a4 a5 a6 a7 active at s; a5 (churned exactly at s) and a7 leave;
    # a6 churns after the cut-off, which has not happened yet.
    feb = one(df, "customer_retention_rate", "month", "2024-02-01")
    assert (feb.numerator, feb.denominator, feb.value) == (3, 5, 0.6)
    assert feb.previous_value == 0.8
    eu = one(df, "customer_retention_rate", "month", "2024-01-01", "region", "EU")
    assert (eu.numerator, eu.denominator) == (1, 2)
    # The calendar starts with a5's October; nobody exists before it.
    october = one(df, "customer_retention_rate", "month", "2023-10-01")
    assert october.denominator == 0 and math.isnan(october.value)
    assert october.status == "no_data" and math.isnan(october.previous_value)
    assert one(df, "customer_retention_rate", "month", "2023-11-01").value == 1


# --- service availability -------------------------------------------------------------------


def test_overlapping_outages(tmp_path: Path) -> None:
    put(
        tmp_path,
        "ops/services",
        "s.csv",
        """
        service_id,service_name,tier,availability_target
        s1,Shop,tier_1,0.99
        s2,Search,tier_2,0.95
        """,
    )
    put(
        tmp_path,
        "ops/incidents",
        "i.csv",
        """
        incident_id,service_id,severity,is_outage,started_at,resolved_at,updated_at
        i1,s1,sev1,true,2024-01-01T00:00:00,2024-01-01T02:00:00,2024-01-01T02:00:00
        i2,s1,sev1,1,2024-01-01T01:00:00,2024-01-01T03:00:00,2024-01-01T03:00:00
        i3,s1,sev3,false,2024-01-01T05:00:00,2024-01-01T06:00:00,2024-01-01T06:00:00
        i4,s1,sev2,True,2024-01-01T23:00:00,2024-01-02T01:00:00,2024-01-02T01:00:00
        i5,s2,sev1,TRUE,2024-01-02T12:00:00,2024-01-05T00:00:00,2024-01-05T00:00:00
        i6,s2,sev1,true,2024-01-02T06:00:00,2024-01-02T13:00:00,2024-01-02T13:00:00
        i7,s9,sev1,true,2024-01-01T00:00:00,2024-01-02T00:00:00,2024-01-02T00:00:00
        """,
    )
    df = compute_kpi_values(tmp_path, default_targets={"service_availability": (0.9, 0.02)})
    # As-of 2024-01-02, cut-off 2024-01-03.  s1: union of i1 and i2 is 00:00-03:00, i3
    # is no outage, i4 gives 1 h on each day.  s2: i5 resolves after the cut-off, so it
    # lasts to the cut-off and with i6 covers 06:00-24:00 of day 2.  s9 is no service.
    day1 = one(df, "service_availability", "day", "2024-01-01")
    assert day1.numerator == 72_000 + 86_400 and day1.denominator == 2 * 86_400
    assert one(df, "service_availability", "day", "2024-01-01", "service", "s1").numerator == 72_000
    day2_s2 = one(df, "service_availability", "day", "2024-01-02", "service", "s2")
    assert day2_s2.numerator == 21_600 and day2_s2.denominator == 86_400
    assert day2_s2.target == 0.95 and day2_s2.status == "red"
    # The month is cut at 2024-01-03: L is two days, not 31.
    month = one(df, "service_availability", "month", "2024-01-01")
    assert month.denominator == 2 * 172_800 and not month.is_complete
    assert month.numerator == 154_800 + 108_000
    assert close(month.value, 262_800 / 345_600) and month.target == 0.9
    assert month.status == "red"  # 0.76 < 0.9 − 0.018
    s1 = one(df, "service_availability", "month", "2024-01-01", "service", "s1")
    assert s1.numerator == 154_800 and s1.target == 0.99
    assert set(df[df.kpi_id == "service_availability"].dimension_value) == {"all", "s1", "s2"}


# --- calendar ---------------------------------------------------------------------------------


def test_iso_week_and_year_boundaries(tmp_path: Path) -> None:
    put(
        tmp_path,
        "crm/leads",
        "l.csv",
        """
        lead_id,created_at,source,region,status,converted_at,updated_at
        l1,2024-12-29T12:00:00,web,EU,open,,2024-12-29T12:00:00
        l2,2024-12-30T00:00:00,web,EU,converted,2025-01-02T00:00:00,2025-01-02T00:00:00
        l3,2025-01-01T10:00:00,web,EU,open,,2025-01-01T10:00:00
        l4,2025-01-05T23:59:59,web,EU,open,,2025-01-05T23:59:59
        l5,2025-01-06T00:00:00,web,EU,open,,2025-01-06T00:00:00
        l6,2025-01-01T01:00:00+02:00,web,EU,open,,2025-01-01T01:00:00+02:00
        """,
    )
    df = compute_kpi_values(tmp_path)
    # 2024-12-29 is a Sunday; the ISO week from Monday 2024-12-30 runs into 2025.
    # l6 is 2024-12-31 23:00 UTC.
    assert one(df, "lead_conversion_rate", "week", "2024-12-23").denominator == 1
    week = one(df, "lead_conversion_rate", "week", "2024-12-30")
    assert (week.numerator, week.denominator, week.value) == (1, 4, 0.25)
    assert week.period_end == date(2025, 1, 6) and week.is_complete
    assert week.previous_value == 0
    last_week = one(df, "lead_conversion_rate", "week", "2025-01-06")
    assert last_week.denominator == 1 and not last_week.is_complete
    y2024 = one(df, "lead_conversion_rate", "year", "2024-01-01")
    y2025 = one(df, "lead_conversion_rate", "year", "2025-01-01")
    assert y2024.denominator == 3 and y2025.denominator == 3 and not y2025.is_complete
    assert set(df[df.grain == "week"].period_start) == {
        date(2024, 12, 23),
        date(2024, 12, 30),
        date(2025, 1, 6),
    }
    assert set(df[df.grain == "day"].period_start) == {
        date(2024, 12, 29) + timedelta(days=i) for i in range(9)
    }


# --- cut-off ----------------------------------------------------------------------------------


def test_cutoff(tmp_path: Path) -> None:
    put(
        tmp_path,
        "crm/leads",
        "l.csv",
        """
        lead_id,created_at,source,region,status,converted_at,updated_at
        l1,2024-03-01T00:00:00,web,EU,converted,2024-03-11T00:00:00,2024-03-11T00:00:00
        l2,2024-03-02T00:00:00,web,EU,converted,2024-03-10T23:59:59,2024-03-10T23:59:59
        l3,2024-03-12T00:00:00,web,EU,open,,2024-03-12T00:00:00
        """,
    )
    put(
        tmp_path,
        "sales/orders",
        "o.csv",
        f"""
        {ORDERS_HEADER}
        o1,a1,2024-03-01T00:00:00,placed,online,EU,USD,2024-03-01T00:00:00
        o2,a1,2024-03-15T00:00:00,placed,online,EU,USD,2024-03-15T00:00:00
        o3,a1,2024-03-01T00:00:00,placed,online,EU,USD,2024-03-01T00:00:00
        o3,a1,2024-03-12T00:00:00,placed,online,EU,USD,2024-03-12T00:00:00
        """,
    )
    put(
        tmp_path,
        "sales/order_lines",
        "l.csv",
        "order_id,line_number,product_id,quantity,unit_price\no1,1,p,1,10\no3,1,p,1,5\n",
    )
    put(
        tmp_path,
        "ops/shipments",
        "s.csv",
        """
        shipment_id,order_id,carrier,shipped_at,promised_at,delivered_at,updated_at
        h1,o1,dhl,2024-03-02T00:00:00,2024-03-04T00:00:00,2024-03-05T00:00:00,2024-03-05T00:00:00
        h2,o2,dhl,2024-03-05T00:00:00,2024-03-07T00:00:00,2024-03-06T00:00:00,2024-03-06T00:00:00
        h3,o1,ups,2024-03-05T00:00:00,2024-03-20T00:00:00,2024-03-12T00:00:00,2024-03-12T00:00:00
        """,
    )
    df = compute_kpi_values(tmp_path, as_of=date(2024, 3, 10))
    # l1's conversion is at the cut-off (03-11 00:00): not yet; l3 is after it.
    leads = one(df, "lead_conversion_rate", "month", "2024-03-01")
    assert (leads.numerator, leads.denominator) == (1, 2)
    # h3's delivery is after the cut-off; h2's order o2 is after it, so its region is
    # not found.  o3's winning version is anchored after the cut-off: o3 is gone.
    delivery = one(df, "on_time_delivery_rate", "month", "2024-03-01")
    assert (delivery.numerator, delivery.denominator) == (1, 2)
    unknown = one(df, "on_time_delivery_rate", "month", "2024-03-01", "region", "unknown")
    assert (unknown.numerator, unknown.denominator) == (1, 1)
    assert one(df, "revenue", "month", "2024-03-01").value == 10
    assert df.period_start.max() == date(2024, 3, 10)

    # Without an as-of date it is the latest anchor date: o2's 2024-03-15.
    default = compute_kpi_values(tmp_path)
    assert default.period_start.max() == date(2024, 3, 15)
    leads = one(default, "lead_conversion_rate", "month", "2024-03-01")
    assert (leads.numerator, leads.denominator) == (2, 3)
    assert one(default, "revenue", "month", "2024-03-01").value == 15  # o3 is back


def test_attendance_defects_completion_and_win_rate(tmp_path: Path) -> None:
    put(
        tmp_path,
        "ops/employees",
        "e.csv",
        """
        employee_id,full_name,department,hired_at,updated_at
        e1,Ann,ops,2020-01-01,2020-01-01T00:00:00
        """,
    )
    put(
        tmp_path,
        "ops/attendance",
        "a.csv",
        """
        employee_id,work_date,scheduled_hours,check_in_at
        e1,2024-04-01,8,2024-04-01T09:00:00
        e1,2024-04-02,8,
        e1,2024-04-03,0,2024-04-03T09:00:00
        e1,2024-04-04,8,2024-04-05T09:00:00
        e2,2024-04-01,7.5,2024-04-01T08:00:00
        """,
    )
    put(
        tmp_path,
        "ops/production_runs",
        "r.csv",
        """
        run_id,plant,started_at,ended_at,units_produced,units_defective,updated_at
        r1,p1,2024-04-01T00:00:00,2024-04-01T08:00:00,100,5,2024-04-01T08:00:00
        r2,p1,2024-04-02T00:00:00,2024-04-02T08:00:00,50,0,2024-04-02T08:00:00
        r3,p2,2024-04-03T00:00:00,2024-04-03T08:00:00,0,0,2024-04-03T08:00:00
        r4,p2,2024-04-10T00:00:00,2024-04-10T08:00:00,10,10,2024-04-10T08:00:00
        """,
    )
    put(
        tmp_path,
        "sales/orders",
        "o.csv",
        """
        order_id,account_id,ordered_at,status,channel,region,currency,fulfilled_at,updated_at
        o1,c1,2024-04-01T00:00:00,fulfilled,online,EU,USD,2024-04-02T12:00:00,2024-04-02
        o2,c1,2024-04-01T00:00:00,cancelled,online,EU,USD,2024-04-03T00:00:00,2024-04-03
        o3,c1,2024-04-02T00:00:00,returned,online,EU,USD,2024-04-04T06:00:00,2024-04-04
        o4,c1,2024-04-02T00:00:00,fulfilled,online,EU,USD,2024-04-06T00:00:00,2024-04-06
        """,
    )
    put(
        tmp_path,
        "crm/accounts",
        "a.csv",
        """
        account_id,account_name,segment,region,created_at,updated_at
        acc1,Acme,smb,EU,2024-04-01T00:00:00,2024-04-01T00:00:00
        """,
    )
    put(
        tmp_path,
        "crm/opportunities",
        "o.csv",
        """
        opportunity_id,account_id,created_at,stage,amount,currency,closed_at,updated_at
        op1,acc1,2024-04-01T00:00:00,closed_won,10,USD,2024-04-02T00:00:00,2024-04-02
        op2,acc1,2024-04-01T00:00:00,closed_lost,10,USD,2024-04-03T00:00:00,2024-04-03
        op3,accX,2024-04-01T00:00:00,closed_won,10,USD,2024-04-03T00:00:00,2024-04-03
        op4,acc1,2024-04-01T00:00:00,negotiation,10,USD,,2024-04-03
        op5,acc1,2024-04-01T00:00:00,closed_won,10,USD,2024-04-07T00:00:00,2024-04-07
        """,
    )
    df = compute_kpi_values(tmp_path, as_of=date(2024, 4, 4))
    # Attendance: 0 scheduled hours is not a work day; e1's 04-04 check-in is after
    # the cut-off; e2 is no known employee.
    attendance = one(df, "attendance_rate", "month", "2024-04-01")
    assert (attendance.numerator, attendance.denominator) == (2, 4)
    ops = one(df, "attendance_rate", "month", "2024-04-01", "department", "ops")
    assert (ops.numerator, ops.denominator) == (1, 3)
    assert one(df, "attendance_rate", "month", "2024-04-01", "department", "unknown").value == 1
    # Defects: r4 ended after the cut-off; p2 produced nothing (0 / 0, no value).
    defects = one(df, "defect_rate", "month", "2024-04-01")
    assert (defects.numerator, defects.denominator) == (5, 150)
    p2 = one(df, "defect_rate", "month", "2024-04-01", "plant", "p2")
    assert p2.denominator == 0 and math.isnan(p2.value)
    assert p2.status == "no_data"
    # A slice whose denominator is 0 need not be published.
    required = nonzero_slices(df)
    assert "p2" not in set(required[required.kpi_id == "defect_rate"].dimension_value)
    # Completion: o1 1.5 days, o3 (returned) 2.25 days; o2 is cancelled and o4's
    # fulfilment is after the cut-off.
    completion = one(df, "order_completion_time_days", "month", "2024-04-01")
    assert (completion.numerator, completion.denominator) == (3.75, 2)
    assert completion.value == 1.875
    assert one(df, "order_completion_time_days", "day", "2024-04-02").value == 1.5
    # Win rate: op3's account is unknown; op4 is open, op5 closes after the cut-off.
    win = one(df, "win_rate", "month", "2024-04-01")
    assert (win.numerator, win.denominator) == (2, 3)
    assert one(df, "win_rate", "month", "2024-04-01", "region", "EU").value == 0.5
    assert one(df, "win_rate", "month", "2024-04-01", "segment", "unknown").value == 1


def test_broken_delivery(tmp_path: Path) -> None:
    def delivery(valid: int, invalid: int) -> str:
        rows = [f"2024-01-01,C{i},1" for i in range(valid)] + ["2024-01-01,X,0"] * invalid
        return "rate_date,currency,usd_per_unit\n" + "\n".join(rows) + "\n"

    put(tmp_path, "sales/fx_rates", "a.csv", delivery(79, 21))
    put(tmp_path, "sales/fx_rates", "b.csv", delivery(80, 20))
    loads = load_landing_detailed(tmp_path)
    assert loads["sales.fx_rates"].rows_by_file == {"a.csv": 100, "b.csv": 100}
    # 21 invalid rows of 100 is more than 20%; 20 is not.
    assert broken_deliveries(loads) == [("sales.fx_rates", "a.csv", 100, 21)]


# --- status -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "target", "tolerance", "direction", "expected"),
    [
        ("4", "4", "0.05", HIGHER, "green"),
        ("3.8", "4", "0.05", HIGHER, "amber"),  # exactly t − |t|·a
        ("3.7999", "4", "0.05", HIGHER, "red"),
        ("-1.05", "-1", "0.05", HIGHER, "amber"),  # |t| for a negative target
        ("0.81", "0.9", "0.1", HIGHER, "amber"),
        ("0.02", "0.02", "0.5", LOWER, "green"),
        ("0.03", "0.02", "0.5", LOWER, "amber"),  # exactly t + |t|·a
        ("0.0300001", "0.02", "0.5", LOWER, "red"),
        ("0.01", "0.02", "0", LOWER, "green"),
        ("0.0200001", "0.02", "0", LOWER, "red"),
    ],
)
def test_status_boundaries(value, target, tolerance, direction, expected) -> None:
    assert status_of(Fraction(value), Fraction(target), Fraction(tolerance), direction) == expected


def test_status_end_to_end(tmp_path: Path) -> None:
    put(
        tmp_path,
        "crm/tickets",
        "t.csv",
        """
        ticket_id,created_at,priority,channel,resolved_at,satisfaction_score,updated_at
        t1,2024-05-01T08:00:00,low,email,2024-05-01T09:00:00,4,2024-05-01T09:00:00
        t2,2024-05-01T08:00:00,low,email,2024-05-01T09:00:00,4,2024-05-01T09:00:00
        t3,2024-05-01T08:00:00,low,email,2024-05-01T09:00:00,4,2024-05-01T09:00:00
        t4,2024-05-01T08:00:00,low,email,2024-05-01T09:00:00,4,2024-05-01T09:00:00
        t5,2024-05-01T08:00:00,low,email,2024-05-01T09:00:00,3,2024-05-01T09:00:00
        t6,2024-05-02T08:00:00,low,email,2024-05-02T09:00:00,5,2024-05-02T09:00:00
        t7,2024-05-03T08:00:00,low,email,2024-05-03T09:00:00,3,2024-05-03T09:00:00
        t8,2024-05-05T08:00:00,low,email,2024-05-05T09:00:00,,2024-05-05T09:00:00
        """,
    )
    targets = {"csat_score": (4.0, 0.05)}
    df = compute_kpi_values(tmp_path, default_targets=targets)
    statuses = [one(df, "csat_score", "day", f"2024-05-0{d}").status for d in range(1, 6)]
    # 3.8 (= 4 − 0.2, amber), 5, 3, no tickets, a ticket without a score.
    assert statuses == ["amber", "green", "red", "no_data", "no_data"]
    assert close(one(df, "csat_score", "day", "2024-05-01").variance, -0.2)
    assert one(df, "first_response_time_hours", "day", "2024-05-01").status == "no_data"
    assert one(df, "ticket_backlog", "day", "2024-05-05").status == "no_target"
    lower = compute_kpi_values(tmp_path, default_targets=targets, directions={"csat_score": LOWER})
    assert one(lower, "csat_score", "day", "2024-05-02").status == "red"  # 5 > 4.2
    assert one(lower, "csat_score", "day", "2024-05-03").status == "green"


# --- output shape -----------------------------------------------------------------------------


def test_output_rows(revenue_landing: Path) -> None:
    df = compute_kpi_values(revenue_landing)
    assert list(df.columns)[:14] == [
        "kpi_id",
        "grain",
        "period_start",
        "period_end",
        "is_complete",
        "dimension",
        "dimension_value",
        "numerator",
        "denominator",
        "value",
        "target",
        "variance",
        "status",
        "previous_value",
    ]
    # 'all': every KPI, grain and period; January 3rd to 20th 2024 is 18 days, 3 ISO
    # weeks (from Monday 01-01), 1 month, 1 quarter, 1 year.
    everything = df[df.dimension == "all"]
    assert len(everything) == 16 * (18 + 3 + 1 + 1 + 1)
    assert not everything.duplicated(["kpi_id", "grain", "period_start"]).any()
    # Service availability with an empty catalog: 0 / 0, no value.
    empty = one(df, "service_availability", "month", "2024-01-01")
    assert empty.denominator == 0 and math.isnan(empty.value)
    required = nonzero_slices(df)
    sliced = required[required.dimension != "all"]
    assert ((sliced.numerator != 0) | (sliced.denominator > 0)).all()
    # The US revenue slice has records on one day only (o3; o4 has no rate).
    us_days = sliced[
        (sliced.kpi_id == "revenue") & (sliced.grain == "day") & (sliced.dimension_value == "US")
    ]
    assert list(us_days.period_start) == [date(2024, 1, 3)]


def test_empty_landing(tmp_path: Path) -> None:
    assert compute_kpi_values(tmp_path).empty
