"""The reference entities, delivered only when they change.

Exchange rates and the product catalog (sales), the SLA policies (crm) and the service
catalog (ops), and the revenue plan (sales), which follows the expected order curve and
the revenue actually booked.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from expectations.contract import PRIORITIES
from orchestration.demo.business import (
    _CATEGORIES,
    _FX_DRIFT,
    _FX_START,
    _FX_VOL,
    _PRODUCT_EDITIONS,
    _PRODUCT_NOUNS,
    _SERVICES,
    _SLA_FIRST_RESPONSE_H,
    _SLA_RESOLUTION_H,
    CURRENCIES,
    REGIONS,
)
from orchestration.demo.columns import _date, _ids, _pick, _scaled
from orchestration.demo.sales import _order_intensity
from orchestration.demo.timeline import _DAY, _HOUR, PLAN_MONTHS_AHEAD, _weekday
from orchestration.demo.world import _Records, _World


def _gen_fx(w: _World) -> None:
    """Business-day rates from six weeks before the history, as a random walk."""
    rng = w.rng("fx_rates")
    cal = w.cal
    w.fx_start = cal.start - 45
    days = np.arange(w.fx_start, cal.end + 1)
    years = (days - cal.start).astype(np.int64) / 365.25
    steps = rng.normal(0.0, 1.0, size=(len(CURRENCIES), len(days))) * _FX_VOL[:, None]
    walk = np.cumsum(steps, axis=1) + _FX_DRIFT[:, None] * years[None, :]
    raw = _FX_START[:, None] * np.exp(walk)
    rates = np.round(raw, 4)  # what the source publishes, so lookups use the same value
    business = _weekday(days) < 5
    # Weekends carry Friday's rate for the lookups, as the KPI formula does.
    last_business = np.maximum.accumulate(np.where(business, np.arange(len(days)), 0))
    w.fx = rates[:, last_business]
    w.fx[0] = 1.0
    cur, day = np.nonzero(business[None, :] & (np.arange(len(CURRENCIES)) > 0)[:, None])
    # Rows by date then currency, as a rates feed publishes them.
    order = np.lexsort((cur, day))
    cur, day = cur[order], day[order]
    t = days[day].astype("datetime64[s]") + np.timedelta64(16, "h")
    w.records["fx_rates"] = _Records(
        {
            "rate_date": _date(days[day]),
            "currency": _pick(CURRENCIES, cur),
            "usd_per_unit": _scaled(rates[cur, day], 4),
        },
        [(t, {})],
    )


def _gen_products(w: _World) -> None:
    rng = w.rng("products")
    cat_idx = np.concatenate([np.full(c[1], i) for i, c in enumerate(_CATEGORIES)])
    n = len(cat_idx)
    lo = np.array([c[2][0] for c in _CATEGORIES])[cat_idx]
    hi = np.array([c[2][1] for c in _CATEGORIES])[cat_idx]
    cost = np.exp(rng.uniform(np.log(lo), np.log(hi)))
    cost = np.round(cost, 2)
    cost_share = np.array([c[3] for c in _CATEGORIES])[cat_idx]
    price = np.round(cost / cost_share * rng.uniform(0.95, 1.05, n), 2)
    names = []
    for cat_name, count, *_ in _CATEGORIES:
        nouns = _PRODUCT_NOUNS[cat_name]
        for j in range(count):  # a fixed catalog of 60 products, not a data-sized loop
            edition = _PRODUCT_EDITIONS[(j // len(nouns)) % len(_PRODUCT_EDITIONS)]
            names.append(f"{nouns[j % len(nouns)]} {edition}")
    no_list_price = rng.random(n) < 0.05
    w.product_cost, w.product_price, w.product_category = cost, price, cat_idx
    created = np.full(n, w.cal.start.astype("datetime64[s]") - np.timedelta64(20 * _DAY, "s"))
    # A price review in the daily window re-delivers some products with new list prices.
    review = w.cal.bounds[w.cal.daily_from + 4] + np.timedelta64(9 * _HOUR, "s")
    reviewed = rng.random(n) < 0.15
    new_price = np.round(price * 1.04, 2)
    w.records["products"] = _Records(
        {
            "product_id": _ids("PRD-", np.arange(1, n + 1), 4),
            "product_name": pa.array(names, pa.string()),
            "category": _pick([c[0] for c in _CATEGORIES], cat_idx),
            "unit_cost": _scaled(cost, 2),
        },
        [
            (created, {"list_price": _scaled(price, 2, no_list_price)}),
            (
                np.where(reviewed, review, np.datetime64("NaT", "s")),
                {"list_price": _scaled(new_price, 2, no_list_price)},
            ),
        ],
    )


def _gen_reference(w: _World) -> None:
    t = np.full(4, w.cal.start.astype("datetime64[s]"))
    w.records["sla_policies"] = _Records(
        {
            "priority": pa.array(list(PRIORITIES), pa.string()),
            "first_response_hours": _scaled(_SLA_FIRST_RESPONSE_H, 1),
            "resolution_hours": _scaled(_SLA_RESOLUTION_H, 1),
        },
        [(t, {})],
    )
    w.records["services"] = _Records(
        {
            "service_id": pa.array([s[0] for s in _SERVICES], pa.string()),
            "service_name": pa.array([s[1] for s in _SERVICES], pa.string()),
            "tier": pa.array([s[2] for s in _SERVICES], pa.string()),
            "availability_target": _scaled(np.array([s[3] for s in _SERVICES]), 3),
        },
        [(np.full(len(_SERVICES), w.cal.start.astype("datetime64[s]")), {})],
    )


def _gen_targets(w: _World) -> None:
    """The revenue plan: the expected seasonal curve, a little too optimistic."""
    cal = w.cal
    end_month = cal.end.astype("datetime64[M]")
    months = np.arange(cal.start.astype("datetime64[M]"), end_month + PLAN_MONTHS_AHEAD + 1)
    all_days = np.arange(
        months[0].astype("datetime64[D]"), (months[-1] + 1).astype("datetime64[D]")
    )
    expected = _order_intensity(cal, all_days).sum(axis=1)  # [region, day]
    month_of = all_days.astype("datetime64[M]").astype(np.int64) - months[0].astype(np.int64)
    expected_month = np.stack(
        [np.bincount(month_of, weights=e, minlength=months.size) for e in expected]
    )
    history = all_days <= cal.end
    _, region, usd = w.booked
    actual = np.bincount(region, weights=usd, minlength=len(REGIONS))
    per_unit = actual / expected[:, history].sum(axis=1)
    # Plans assume a bit more growth than the market gives, and some regions aim higher.
    years = (months - months[0]).astype(np.int64) / 12.0 - 1.0
    premium = np.array([0.015, 0.035, -0.03, 0.05])
    plan = expected_month * per_unit[:, None] * np.exp(premium[:, None] + 0.035 * years[None, :])
    plan = np.round(plan, -2)
    r, m = np.meshgrid(np.arange(len(REGIONS)), np.arange(months.size), indexing="ij")
    r, m = r.ravel(), m.ravel()
    order = np.lexsort((r, m))
    r, m = r[order], m[order]
    w.records["sales_targets"] = _Records(
        {
            "target_month": _date(months[m].astype("datetime64[D]")),
            "region": _pick(REGIONS, r),
            "revenue_target": _scaled(plan[r, m], 2),
        },
        [(np.full(r.size, cal.start.astype("datetime64[s]")), {})],
    )
