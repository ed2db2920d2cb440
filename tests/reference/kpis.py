"""The 16 KPIs of the catalog (the KPI registry), computed straight from the landing files.

The computation is kept exact until the very end: money is ``decimal.Decimal``,
timestamps and durations are integer microseconds, counts are ints, and every value,
target comparison and variance is worked out as a ``fractions.Fraction``.  Only the
published columns are converted to float.

Output rows (a *dense* grid):
- ``dimension = 'all'``: every KPI, grain and calendar period, as the spec requires;
- every other slice: every calendar period for every value of the dimension that
  occurs in the KPI's records anywhere in the data set (after the cut-off), so a
  period where the slice has no records is present with 0 (sums and counts) or
  0/0 and a null value (ratios).  ``nonzero_slices`` keeps only the rows the spec
  guarantees to exist.

Decisions the catalog leaves open are marked "Decision:" in the comments below.
"""

from __future__ import annotations

import bisect
import decimal
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .landing import load_landing
from .periods import (
    GRAINS,
    US_PER_DAY,
    US_PER_HOUR,
    US_PER_SECOND,
    Calendar,
    Period,
    day_to_us,
    us_to_day,
)

HIGHER = "higher_is_better"
LOWER = "lower_is_better"


@dataclass(frozen=True)
class Kpi:
    kpi_id: str
    kind: str  # "sum": a sum or count, no denominator; "ratio": a ratio or an average
    direction: str
    dimensions: tuple[str, ...]
    # The exact numerator and denominator are multiplied by these to give the
    # published unit (e.g. microseconds to hours).
    numerator_unit: Fraction = Fraction(1)
    denominator_unit: Fraction = Fraction(1)


KPIS: tuple[Kpi, ...] = (
    Kpi("revenue", "sum", HIGHER, ("region", "channel")),
    Kpi("average_order_value", "ratio", HIGHER, ("region", "channel")),
    Kpi("gross_margin_rate", "ratio", HIGHER, ("region", "channel")),
    Kpi("cost_per_lead", "ratio", LOWER, ("channel", "region")),
    Kpi("customer_retention_rate", "ratio", HIGHER, ("region", "segment")),
    Kpi("csat_score", "ratio", HIGHER, ("priority", "channel")),
    Kpi("on_time_delivery_rate", "ratio", HIGHER, ("carrier", "region")),
    Kpi(
        "first_response_time_hours",
        "ratio",
        LOWER,
        ("priority", "channel"),
        numerator_unit=Fraction(1, US_PER_HOUR),
    ),
    Kpi("sla_compliance_rate", "ratio", HIGHER, ("priority", "channel")),
    Kpi("lead_conversion_rate", "ratio", HIGHER, ("region", "channel")),
    Kpi("win_rate", "ratio", HIGHER, ("region", "segment")),
    Kpi("ticket_backlog", "sum", LOWER, ("priority", "channel")),
    Kpi(
        "order_completion_time_days",
        "ratio",
        LOWER,
        ("region", "channel"),
        numerator_unit=Fraction(1, US_PER_DAY),
    ),
    Kpi("defect_rate", "ratio", LOWER, ("plant",)),
    Kpi(
        "service_availability",
        "ratio",
        HIGHER,
        ("service",),
        # Downtime and period lengths are kept in microseconds; published in seconds.
        numerator_unit=Fraction(1, US_PER_SECOND),
        denominator_unit=Fraction(1, US_PER_SECOND),
    ),
    Kpi("attendance_rate", "ratio", HIGHER, ("department",)),
)
KPI_BY_ID = {k.kpi_id: k for k in KPIS}
CATALOG_DIRECTIONS = {k.kpi_id: k.direction for k in KPIS}

OUTPUT_COLUMNS = [
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
    "definition_version",
]

# Decision: a KPI without an entry in ``default_targets`` has no default target and an
# amber tolerance of 0 (its sales_targets / service catalog targets still apply).
NO_DEFAULT = (None, 0.0)

# The anchor of each entity that has one: the dates the as-of date and the cut-off
# are taken from (dbt_project/models/intermediate/int_as_of.sql).
ANCHORS = {
    "crm.accounts": "created_at",
    "crm.leads": "created_at",
    "crm.opportunities": "created_at",
    "crm.tickets": "created_at",
    "crm.marketing_spend": "spend_date",
    "sales.orders": "ordered_at",
    "ops.shipments": "shipped_at",
    "ops.production_runs": "ended_at",
    "ops.incidents": "started_at",
    "ops.attendance": "work_date",
}
# Event timestamps that have "not happened yet" when at or after the cut-off.
# Decision: exactly the catalog's list.  check_out_at, started_at of production runs,
# employees' dates and updated_at are left as they are (no KPI reads them), and
# promised_at is a deadline that is never cut.  Entities without an anchor
# (fx_rates, sales_targets, products, services, sla_policies, employees, order_lines)
# are not cut at all: an fx rate dated after the cut-off is still a rate.
EVENTS = {
    "crm.accounts": ("churned_at",),
    "crm.leads": ("converted_at",),
    "crm.opportunities": ("closed_at",),
    "crm.tickets": ("first_response_at", "resolved_at"),
    "sales.orders": ("fulfilled_at",),
    "ops.shipments": ("delivered_at",),
    "ops.incidents": ("resolved_at",),
    "ops.attendance": ("check_in_at",),
}

UNKNOWN = "unknown"
ALL = "all"
_NAT = np.iinfo(np.int64).min
_NEVER = np.iinfo(np.int64).max  # stands for "no timestamp yet" in level comparisons

# Money is multiplied and summed exactly; the Inexact trap proves that no rounding
# happens anywhere (divisions are done with Fraction instead).
_EXACT = decimal.Context(
    prec=200,
    Emax=999_999,
    Emin=-999_999,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow, decimal.Inexact],
)


# --- helpers over typed frames ----------------------------------------------------------


def _us_array(series: pd.Series) -> np.ndarray:
    """Microseconds since the epoch as int64; NaT becomes the int64 minimum."""
    return series.to_numpy(dtype="datetime64[us]").view("int64")


def _us_list(series: pd.Series) -> list[int | None]:
    return [None if v == _NAT else int(v) for v in _us_array(series)]


def _slice_value(value: Any) -> str:
    """A null or not-found dimension value goes to the slice 'unknown'."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return UNKNOWN
    return str(value)


def _anchor_days(df: pd.DataFrame, column: str) -> list[date]:
    series = df[column]
    if pd.api.types.is_datetime64_any_dtype(series):
        return [us_to_day(v) for v in _us_list(series) if v is not None]
    return [v for v in series.tolist() if v is not None]


def _exact(number: Any) -> Fraction:
    return number if isinstance(number, Fraction) else Fraction(number)


def _fraction_of(setting: Any) -> Fraction | None:
    """A target or tolerance as the decimal number it is written as (0.95 is 95/100,
    not the binary double closest to it), so that status boundaries are exact."""
    if setting is None:
        return None
    if isinstance(setting, Fraction | Decimal | int):
        return Fraction(setting)
    return Fraction(str(setting))


# --- the cut-off --------------------------------------------------------------------------


def as_of_date(tables: dict[str, pd.DataFrame]) -> date | None:
    """The latest UTC date of any anchor of a valid, deduplicated row."""
    days = [d for name, col in ANCHORS.items() for d in _anchor_days(tables[name], col)]
    return max(days) if days else None


def apply_cutoff(tables: dict[str, pd.DataFrame], cutoff_day: date) -> dict[str, pd.DataFrame]:
    """Leave out rows anchored at or after the cut-off and null later event timestamps.

    Runs after deduplication: a key whose winning row is anchored after the cut-off is
    gone, it does not fall back to an older version.
    """
    cutoff_us = day_to_us(cutoff_day)
    result = dict(tables)
    for name, anchor in ANCHORS.items():
        df = tables[name]
        if pd.api.types.is_datetime64_any_dtype(df[anchor]):
            keep = _us_array(df[anchor]) < cutoff_us
        else:
            keep = np.array([d < cutoff_day for d in df[anchor].tolist()], dtype=bool)
        df = df.loc[keep].reset_index(drop=True).copy()
        for event in EVENTS.get(name, ()):
            later = _us_array(df[event]) >= cutoff_us  # NaT is the minimum: never later
            df.loc[later, event] = pd.NaT
        result[name] = df
    return result


# --- currency -------------------------------------------------------------------------------


class FxRates:
    """US dollars per unit of a currency on a date (int_fx_rates__ranges.sql)."""

    def __init__(self, fx_rates: pd.DataFrame):
        by_currency: dict[str, list[tuple[date, Decimal]]] = defaultdict(list)
        for day, currency, rate in zip(
            fx_rates["rate_date"], fx_rates["currency"], fx_rates["usd_per_unit"], strict=True
        ):
            by_currency[currency].append((day, rate))
        self._dates: dict[str, list[date]] = {}
        self._rates: dict[str, list[Decimal]] = {}
        for currency, rows in by_currency.items():
            rows.sort()
            self._dates[currency] = [d for d, _ in rows]
            self._rates[currency] = [r for _, r in rows]

    def rate(self, currency: str, day: date) -> Decimal | None:
        # Decision: currency codes are compared exactly as written ("usd" is not USD).
        if currency == "USD":
            return Decimal(1)
        dates = self._dates.get(currency)
        if not dates:
            return None  # no rate at all: the record is left out
        i = bisect.bisect_right(dates, day) - 1
        # The rate with the greatest rate_date <= day, else the earliest rate.
        return self._rates[currency][max(i, 0)]


# --- totals per grain, period and slice -------------------------------------------------------

# (grain, dimension, dimension_value) -> {period_start: (numerator, denominator)}
Totals = dict[tuple[str, str, str], dict[date, tuple[Any, Any]]]


@dataclass
class KpiTotals:
    totals: Totals = field(default_factory=dict)
    # Every value of each dimension that the KPI's records carry: the dense grid's rows.
    domain: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


def flow_totals(kpi: Kpi, calendar: Calendar, records: Iterable[tuple]) -> KpiTotals:
    """Totals of a flow KPI from records ``(day, dimension values, numerator,
    denominator)``: each grain sums the records of its own periods."""
    # First per day and combination of dimension values, then rolled up per grain.
    daily: dict[tuple[date, tuple[str, ...]], list] = {}
    for day, dims, numerator, denominator in records:
        key = (day, tuple(_slice_value(v) for v in dims))
        cell = daily.get(key)
        if cell is None:
            daily[key] = [numerator, denominator]
        else:
            cell[0] += numerator
            cell[1] += denominator
    result = KpiTotals()
    sums: dict[tuple[str, str, str], dict[date, list]] = defaultdict(dict)
    for (day, dims), (numerator, denominator) in daily.items():
        for dimension, value in zip(kpi.dimensions, dims, strict=True):
            result.domain[dimension].add(value)
        slices = [(ALL, ALL), *zip(kpi.dimensions, dims, strict=True)]
        for grain in GRAINS:
            start = calendar.floor(grain, day)
            if start is None:
                continue  # outside the calendar (cannot happen after the cut-off)
            for dimension, value in slices:
                cell = sums[(grain, dimension, value)].get(start)
                if cell is None:
                    sums[(grain, dimension, value)][start] = [numerator, denominator]
                else:
                    cell[0] += numerator
                    cell[1] += denominator
    result.totals = {k: {p: (c[0], c[1]) for p, c in v.items()} for k, v in sums.items()}
    return result


def level_totals(
    kpi: Kpi,
    calendar: Calendar,
    dims: dict[str, list[Any]],
    measure,
) -> KpiTotals:
    """Totals of a level KPI: ``measure(period)`` gives boolean masks (numerator,
    denominator) over the rows, counted per slice."""
    result = KpiTotals()
    coded = {}
    for dimension in kpi.dimensions:
        values = [_slice_value(v) for v in dims[dimension]]
        codes, uniques = pd.factorize(pd.Series(values, dtype=object))
        coded[dimension] = (codes, list(uniques))
        result.domain[dimension].update(uniques)
    for grain in GRAINS:
        for period in calendar.periods[grain]:
            num_mask, den_mask = measure(period)
            result.totals.setdefault((grain, ALL, ALL), {})[period.start] = (
                int(num_mask.sum()),
                int(den_mask.sum()),
            )
            for dimension, (codes, uniques) in coded.items():
                nums = np.bincount(codes[num_mask], minlength=len(uniques))
                dens = np.bincount(codes[den_mask], minlength=len(uniques))
                for i, value in enumerate(uniques):
                    result.totals.setdefault((grain, dimension, value), {})[period.start] = (
                        int(nums[i]),
                        int(dens[i]),
                    )
    return result


# --- the KPIs -----------------------------------------------------------------------------------


@dataclass
class Inputs:
    tables: dict[str, pd.DataFrame]  # valid, deduplicated, after the cut-off
    calendar: Calendar
    fx: FxRates


def _orders_kpis(inp: Inputs) -> dict[str, KpiTotals]:
    """revenue, average_order_value, gross_margin_rate and order_completion_time_days."""
    orders = inp.tables["sales.orders"]
    lines = inp.tables["sales.order_lines"]
    products = inp.tables["sales.products"]
    unit_cost = dict(zip(products["product_id"], products["unit_cost"], strict=True))

    status = orders["status"].tolist()
    qualifying = {
        oid
        for oid, st in zip(orders["order_id"], status, strict=True)
        if st in ("placed", "fulfilled")
    }
    # Per qualifying order, in the order's currency: Σ line amounts, and the same over the
    # lines of known products together with their Σ quantity × unit_cost (USD).
    line_total: dict[str, Decimal] = defaultdict(Decimal)
    known_total: dict[str, Decimal] = defaultdict(Decimal)
    known_cost: dict[str, Decimal] = defaultdict(Decimal)
    for oid, pid, quantity, price, discount in zip(
        lines["order_id"],
        lines["product_id"],
        lines["quantity"].tolist(),
        lines["unit_price"],
        lines["discount_amount"],
        strict=True,
    ):
        if oid not in qualifying:
            continue
        amount = quantity * price - (discount if discount is not None else Decimal(0))
        line_total[oid] += amount
        cost = unit_cost.get(pid)
        if cost is not None:
            known_total[oid] += amount
            known_cost[oid] += quantity * cost

    revenue, aov, margin, completion = [], [], [], []
    ordered = _us_list(orders["ordered_at"])
    fulfilled = _us_list(orders["fulfilled_at"])
    for oid, st, region, channel, currency, ordered_us, fulfilled_us in zip(
        orders["order_id"],
        status,
        orders["region"],
        orders["channel"],
        orders["currency"],
        ordered,
        fulfilled,
        strict=True,
    ):
        dims = (region, channel)
        if fulfilled_us is not None and st != "cancelled":
            day = us_to_day(fulfilled_us)
            completion.append((day, dims, fulfilled_us - ordered_us, 1))
        if oid not in qualifying:
            continue
        day = us_to_day(ordered_us)
        rate = inp.fx.rate(currency, day)
        if rate is None:
            # No rate at all for the currency: out of every KPI that needs the amount,
            # numerator and denominator alike (an order of average_order_value).
            continue
        usd = line_total.get(oid, Decimal(0)) * rate
        revenue.append((day, dims, usd, 0))
        aov.append((day, dims, usd, 1))
        known_usd = known_total.get(oid, Decimal(0)) * rate
        margin.append((day, dims, known_usd - known_cost.get(oid, Decimal(0)), known_usd))

    cal = inp.calendar
    return {
        "revenue": flow_totals(KPI_BY_ID["revenue"], cal, revenue),
        "average_order_value": flow_totals(KPI_BY_ID["average_order_value"], cal, aov),
        "gross_margin_rate": flow_totals(KPI_BY_ID["gross_margin_rate"], cal, margin),
        "order_completion_time_days": flow_totals(
            KPI_BY_ID["order_completion_time_days"], cal, completion
        ),
    }


def _cost_per_lead(inp: Inputs) -> KpiTotals:
    spend = inp.tables["crm.marketing_spend"]
    leads = inp.tables["crm.leads"]
    records = []
    for day, channel, region, amount, currency in zip(
        spend["spend_date"],
        spend["channel"],
        spend["region"],
        spend["amount"],
        spend["currency"],
        strict=True,
    ):
        rate = inp.fx.rate(currency, day)
        if rate is not None:  # without any rate only this spend row is left out
            records.append((day, (channel, region), amount * rate, 0))
    for created_us, source, region in zip(
        _us_list(leads["created_at"]), leads["source"], leads["region"], strict=True
    ):
        records.append((us_to_day(created_us), (source, region), 0, 1))
    return flow_totals(KPI_BY_ID["cost_per_lead"], inp.calendar, records)


def _ticket_kpis(inp: Inputs) -> dict[str, KpiTotals]:
    """csat_score, first_response_time_hours and sla_compliance_rate."""
    tickets = inp.tables["crm.tickets"]
    sla = inp.tables["crm.sla_policies"]
    limit_us = {
        priority: hours * US_PER_HOUR
        for priority, hours in zip(sla["priority"], sla["resolution_hours"], strict=True)
    }
    csat, first_response, compliance = [], [], []
    for created_us, first_us, resolved_us, score, priority, channel in zip(
        _us_list(tickets["created_at"]),
        _us_list(tickets["first_response_at"]),
        _us_list(tickets["resolved_at"]),
        tickets["satisfaction_score"].tolist(),
        tickets["priority"],
        tickets["channel"],
        strict=True,
    ):
        dims = (priority, channel)
        if first_us is not None:
            first_response.append((us_to_day(created_us), dims, first_us - created_us, 1))
        if resolved_us is None:
            continue
        resolved_day = us_to_day(resolved_us)
        if score is not None and score is not pd.NA:
            csat.append((resolved_day, dims, score, 1))
        if priority in limit_us:
            # Exact comparison: integer microseconds against hours × 3.6e9 (a Decimal).
            met = (resolved_us - created_us) <= limit_us[priority]
            compliance.append((resolved_day, dims, int(met), 1))
    cal = inp.calendar
    return {
        "csat_score": flow_totals(KPI_BY_ID["csat_score"], cal, csat),
        "first_response_time_hours": flow_totals(
            KPI_BY_ID["first_response_time_hours"], cal, first_response
        ),
        "sla_compliance_rate": flow_totals(KPI_BY_ID["sla_compliance_rate"], cal, compliance),
    }


def _on_time_delivery(inp: Inputs) -> KpiTotals:
    shipments = inp.tables["ops.shipments"]
    orders = inp.tables["sales.orders"]
    # Orders left out by the cut-off are not found: their shipments go to 'unknown'.
    region_of = dict(zip(orders["order_id"], orders["region"], strict=True))
    records = []
    for order_id, carrier, delivered_us, promised_us in zip(
        shipments["order_id"],
        shipments["carrier"],
        _us_list(shipments["delivered_at"]),
        _us_list(shipments["promised_at"]),
        strict=True,
    ):
        if delivered_us is None:
            continue
        on_time = int(delivered_us <= promised_us)
        records.append((us_to_day(delivered_us), (carrier, region_of.get(order_id)), on_time, 1))
    return flow_totals(KPI_BY_ID["on_time_delivery_rate"], inp.calendar, records)


def _lead_conversion(inp: Inputs) -> KpiTotals:
    leads = inp.tables["crm.leads"]
    records = [
        (us_to_day(created_us), (region, source), int(converted_us is not None), 1)
        for created_us, converted_us, region, source in zip(
            _us_list(leads["created_at"]),
            _us_list(leads["converted_at"]),
            leads["region"],
            leads["source"],
            strict=True,
        )
    ]
    return flow_totals(KPI_BY_ID["lead_conversion_rate"], inp.calendar, records)


def _win_rate(inp: Inputs) -> KpiTotals:
    opportunities = inp.tables["crm.opportunities"]
    accounts = inp.tables["crm.accounts"]
    account = {
        aid: (region, segment)
        for aid, region, segment in zip(
            accounts["account_id"], accounts["region"], accounts["segment"], strict=True
        )
    }
    records = []
    for account_id, stage, closed_us in zip(
        opportunities["account_id"],
        opportunities["stage"],
        _us_list(opportunities["closed_at"]),
        strict=True,
    ):
        if stage not in ("closed_won", "closed_lost") or closed_us is None:
            continue
        dims = account.get(account_id, (None, None))
        records.append((us_to_day(closed_us), dims, int(stage == "closed_won"), 1))
    return flow_totals(KPI_BY_ID["win_rate"], inp.calendar, records)


def _defect_rate(inp: Inputs) -> KpiTotals:
    runs = inp.tables["ops.production_runs"]
    records = [
        (us_to_day(ended_us), (plant,), int(defective), int(produced))
        for ended_us, plant, defective, produced in zip(
            _us_list(runs["ended_at"]),
            runs["plant"],
            runs["units_defective"].tolist(),
            runs["units_produced"].tolist(),
            strict=True,
        )
    ]
    return flow_totals(KPI_BY_ID["defect_rate"], inp.calendar, records)


def _attendance_rate(inp: Inputs) -> KpiTotals:
    attendance = inp.tables["ops.attendance"]
    employees = inp.tables["ops.employees"]
    department_of = dict(zip(employees["employee_id"], employees["department"], strict=True))
    records = []
    for employee_id, work_date, hours, check_in_us in zip(
        attendance["employee_id"],
        attendance["work_date"],
        attendance["scheduled_hours"],
        _us_list(attendance["check_in_at"]),
        strict=True,
    ):
        if hours > 0:
            dims = (department_of.get(employee_id),)
            records.append((work_date, dims, int(check_in_us is not None), 1))
    return flow_totals(KPI_BY_ID["attendance_rate"], inp.calendar, records)


def _customer_retention(inp: Inputs) -> KpiTotals:
    accounts = inp.tables["crm.accounts"]
    created = _us_array(accounts["created_at"])
    churned = _us_array(accounts["churned_at"])
    churned = np.where(churned == _NAT, _NEVER, churned)

    def measure(period: Period) -> tuple[np.ndarray, np.ndarray]:
        s, e = period.start_us, period.end_us
        denominator = (created < s) & (churned >= s)
        numerator = denominator & (churned >= e)
        return numerator, denominator

    dims = {"region": accounts["region"].tolist(), "segment": accounts["segment"].tolist()}
    return level_totals(KPI_BY_ID["customer_retention_rate"], inp.calendar, dims, measure)


def _ticket_backlog(inp: Inputs) -> KpiTotals:
    tickets = inp.tables["crm.tickets"]
    created = _us_array(tickets["created_at"])
    resolved = _us_array(tickets["resolved_at"])
    resolved = np.where(resolved == _NAT, _NEVER, resolved)

    def measure(period: Period) -> tuple[np.ndarray, np.ndarray]:
        e = period.end_us
        open_at_end = (created < e) & (resolved >= e)
        return open_at_end, np.zeros_like(open_at_end)

    dims = {"priority": tickets["priority"].tolist(), "channel": tickets["channel"].tolist()}
    return level_totals(KPI_BY_ID["ticket_backlog"], inp.calendar, dims, measure)


def _merge_intervals(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The union of half-open intervals as sorted, disjoint intervals."""
    merged: list[list[int]] = []
    for start, end in sorted(intervals):
        if end <= start:
            continue  # an empty interval adds no downtime
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def _service_availability(inp: Inputs) -> KpiTotals:
    services = inp.tables["ops.services"]
    incidents = inp.tables["ops.incidents"]
    catalog = list(services["service_id"])
    cutoff_us = inp.calendar.cutoff_us
    intervals: dict[str, list[tuple[int, int]]] = {sid: [] for sid in catalog}
    for service_id, is_outage, started_us, resolved_us in zip(
        incidents["service_id"],
        incidents["is_outage"].tolist(),
        _us_list(incidents["started_at"]),
        _us_list(incidents["resolved_at"]),
        strict=True,
    ):
        # Only outages of catalog services; an unresolved one lasts up to the cut-off.
        if is_outage is True and service_id in intervals:
            end = resolved_us if resolved_us is not None else cutoff_us
            intervals[service_id].append((started_us, end))
    union = {sid: _merge_intervals(iv) for sid, iv in intervals.items()}

    result = KpiTotals()
    result.domain["service"].update(catalog)
    for grain in GRAINS:
        for period in inp.calendar.periods[grain]:
            length = period.length_us
            up_total = 0
            for service_id in catalog:
                downtime = sum(
                    max(0, min(e, period.end_us) - max(s, period.start_us))
                    for s, e in union[service_id]
                )
                up = length - downtime
                up_total += up
                result.totals.setdefault((grain, "service", service_id), {})[period.start] = (
                    up,
                    length,
                )
            result.totals.setdefault((grain, ALL, ALL), {})[period.start] = (
                up_total,
                length * len(catalog),
            )
    return result


# --- targets, status and the published rows -----------------------------------------------------


class Targets:
    def __init__(
        self,
        tables: dict[str, pd.DataFrame],
        default_targets: dict[str, tuple[Any, Any]] | None,
    ):
        self.defaults = dict(default_targets or {})
        # Revenue plan rows by month; never cut: "future months included".
        self.revenue_rows: dict[date, list[tuple[str, Decimal]]] = defaultdict(list)
        targets = tables["sales.sales_targets"]
        for month, region, amount in zip(
            targets["target_month"], targets["region"], targets["revenue_target"], strict=True
        ):
            self.revenue_rows[month].append((region, amount))
        services = tables["ops.services"]
        self.service_targets = dict(
            zip(services["service_id"], services["availability_target"], strict=True)
        )

    def tolerance(self, kpi_id: str) -> Fraction:
        return _fraction_of(self.defaults.get(kpi_id, NO_DEFAULT)[1]) or Fraction(0)

    def target(self, kpi_id: str, period: Period, dimension: str, value: str) -> Fraction | None:
        if kpi_id == "revenue":
            return self._revenue_target(period, dimension, value)
        if kpi_id == "service_availability" and dimension == "service":
            target = self.service_targets.get(value)
            return None if target is None else Fraction(target)
        if dimension != ALL and KPI_BY_ID[kpi_id].kind == "sum":
            # README, "Targets with effective dates": a company-wide level says nothing
            # about one slice's share of a sum or count; only named slice targets
            # (revenue's) apply.
            return None
        return _fraction_of(self.defaults.get(kpi_id, NO_DEFAULT)[0])

    def _revenue_target(self, period: Period, dimension: str, value: str) -> Fraction | None:
        # The revenue default never applies: day, week and channel slices have none.
        if period.grain not in ("month", "quarter", "year") or dimension not in (ALL, "region"):
            return None
        amounts = [
            amount
            for month, rows in self.revenue_rows.items()
            if period.start <= month < period.end
            for region, amount in rows
            if dimension == ALL or region == value
        ]
        return Fraction(sum(amounts, Decimal(0))) if amounts else None


def status_of(
    value: Fraction | None, target: Fraction | None, tolerance: Fraction, direction: str
) -> str:
    if value is None:
        return "no_data"
    if target is None:
        return "no_target"
    band = abs(target) * tolerance
    if direction == HIGHER:
        if value >= target:
            return "green"
        return "amber" if value >= target - band else "red"
    if value <= target:
        return "green"
    return "amber" if value <= target + band else "red"


def _float(x: Fraction | None) -> float:
    return float("nan") if x is None else float(x)


def kpi_rows(
    kpi: Kpi,
    totals: KpiTotals,
    calendar: Calendar,
    targets: Targets,
    direction: str,
) -> list[dict[str, Any]]:
    rows = []
    tolerance = targets.tolerance(kpi.kpi_id)
    slices = [(ALL, ALL)] + [
        (dimension, value)
        for dimension in kpi.dimensions
        for value in sorted(totals.domain.get(dimension, ()))
    ]
    for grain in GRAINS:
        for dimension, dimension_value in slices:
            by_period = totals.totals.get((grain, dimension, dimension_value), {})
            previous: Fraction | None = None
            for i, period in enumerate(calendar.periods[grain]):
                numerator, denominator = by_period.get(period.start, (0, 0))
                num = _exact(numerator) * kpi.numerator_unit
                if kpi.kind == "sum":
                    den = None
                    value = num
                else:
                    den = _exact(denominator) * kpi.denominator_unit
                    value = None if den == 0 else num / den
                target = targets.target(kpi.kpi_id, period, dimension, dimension_value)
                rows.append(
                    {
                        "kpi_id": kpi.kpi_id,
                        "grain": grain,
                        "period_start": period.start,
                        "period_end": period.end,
                        "is_complete": period.is_complete,
                        "dimension": dimension,
                        "dimension_value": dimension_value,
                        "numerator": float(num),
                        "denominator": _float(den),
                        "value": _float(value),
                        "target": _float(target),
                        "variance": _float(
                            None if value is None or target is None else value - target
                        ),
                        "status": status_of(value, target, tolerance, direction),
                        # The first calendar period has no preceding one.
                        "previous_value": _float(previous) if i > 0 else float("nan"),
                        "definition_version": 1,
                    }
                )
                previous = value
    return rows


def compute_kpi_values(
    landing_dir: Path | str,
    as_of: date | str | None = None,
    default_targets: dict[str, tuple[float | None, float]] | None = None,
    directions: dict[str, str] | None = None,
) -> pd.DataFrame:
    """kpi.kpi_values for a landing directory, computed from the specification.

    ``default_targets`` maps kpi_id to (default target or None, amber tolerance);
    ``directions`` overrides the catalog's direction of a KPI.  See the module
    docstring for which rows are returned.
    """
    tables = load_landing(landing_dir)
    if isinstance(as_of, str):
        as_of = date.fromisoformat(as_of)
    if as_of is None:
        as_of = as_of_date(tables)
        if as_of is None:  # no anchored row at all: no calendar, nothing to publish
            return pd.DataFrame(columns=OUTPUT_COLUMNS)
    # The cut-off is the start of the day after the as-of date.
    cut = apply_cutoff(tables, as_of + timedelta(days=1))
    # Decision: the calendar starts at the earliest anchor date of the rows kept after
    # the cut-off; when the cut-off leaves none (an as-of date before all data), the
    # calendar is just the periods holding the as-of date.
    kept_days = [d for name, col in ANCHORS.items() for d in _anchor_days(cut[name], col)]
    calendar = Calendar(min(kept_days, default=as_of), as_of)
    inp = Inputs(cut, calendar, FxRates(cut["sales.fx_rates"]))

    with decimal.localcontext(_EXACT):
        all_totals: dict[str, KpiTotals] = {}
        all_totals.update(_orders_kpis(inp))
        all_totals["cost_per_lead"] = _cost_per_lead(inp)
        all_totals["customer_retention_rate"] = _customer_retention(inp)
        all_totals.update(_ticket_kpis(inp))
        all_totals["on_time_delivery_rate"] = _on_time_delivery(inp)
        all_totals["lead_conversion_rate"] = _lead_conversion(inp)
        all_totals["win_rate"] = _win_rate(inp)
        all_totals["ticket_backlog"] = _ticket_backlog(inp)
        all_totals["defect_rate"] = _defect_rate(inp)
        all_totals["service_availability"] = _service_availability(inp)
        all_totals["attendance_rate"] = _attendance_rate(inp)

        targets = Targets(cut, default_targets)
        chosen = {**CATALOG_DIRECTIONS, **(directions or {})}
        rows: list[dict[str, Any]] = []
        for kpi in KPIS:
            totals = all_totals[kpi.kpi_id]
            rows.extend(kpi_rows(kpi, totals, calendar, targets, chosen[kpi.kpi_id]))

    frame = pd.DataFrame(rows, columns=OUTPUT_COLUMNS)
    for column in ("period_start", "period_end"):
        frame[column] = frame[column].astype(object)
    for column in ("kpi_id", "grain", "dimension", "dimension_value", "status"):
        frame[column] = frame[column].astype(object)
    frame["is_complete"] = frame["is_complete"].astype(bool)
    return frame


def nonzero_slices(df: pd.DataFrame) -> pd.DataFrame:
    """The rows kpi.kpi_values must contain: every 'all' row, and a slice's row where
    the slice has records (a ratio's denominator, a sum's or count's numerator, is not
    zero).  Rows of a dense grid outside these may or may not be published."""
    is_sum = df["kpi_id"].map(lambda k: KPI_BY_ID[k].kind == "sum").astype(bool)
    has_records = (is_sum & (df["numerator"] != 0)) | (~is_sum & (df["denominator"] != 0))
    return df[(df["dimension"] == ALL) | has_records].reset_index(drop=True)
