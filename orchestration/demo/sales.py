"""The sales system's records: orders and their lines, and the revenue they book.

Orders follow a seasonal intensity per region, channel and day (which the revenue plan
reuses); each fulfilled order ships (see ``ops._gen_shipments``).
"""

from __future__ import annotations

import numpy as np

from expectations.contract import ORDER_CHANNELS
from orchestration.demo.business import (
    _CATEGORIES,
    _ORDER_CHANNEL_GROWTH,
    _ORDER_CHANNEL_WEEK,
    _REGION_CURRENCY_MIX,
    _REGION_GROWTH,
    _REGION_PRICE_INDEX,
    _REGION_SHARE,
    _REGION_TZ,
    _SEGMENT_QUANTITY,
    _WHOLE_UNIT_CURRENCIES,
    CURRENCIES,
    ORDER_CHANNEL_SHARE,
    REGIONS,
    _volume,
)
from orchestration.demo.columns import _ids, _int, _pick, _scaled, _ts
from orchestration.demo.draws import _spread
from orchestration.demo.ops import _gen_shipments
from orchestration.demo.timeline import _DAY, _HOUR, _at, _Calendar, _season, _seconds, _weekday
from orchestration.demo.world import _pick_accounts, _Records, _World


def _order_intensity(cal: _Calendar, days: np.ndarray) -> np.ndarray:
    """Expected orders per region, channel and day, up to a constant (no noise)."""
    years = cal.years(days)
    season = np.tile(_season(days), (len(REGIONS), 1))
    month = days.astype("datetime64[M]").astype(np.int64) % 12
    season[1, month == 7] *= 0.85  # EMEA's August holidays
    season[2, month == 1] *= 0.90  # APAC's lunar new year
    return (
        _REGION_SHARE[:, None, None]
        * ORDER_CHANNEL_SHARE[:, :, None]
        * np.exp(
            _REGION_GROWTH[:, None, None] * years + _ORDER_CHANNEL_GROWTH[None, :, None] * years
        )
        * season[:, None, :]
        * _ORDER_CHANNEL_WEEK[:, _weekday(days)][None, :, :]
    )


def _gen_orders(w: _World) -> None:
    rng = w.rng("orders")
    cal = w.cal
    days = cal.days
    base = _order_intensity(cal, days)
    noise = rng.lognormal(0.0, 0.10, (len(REGIONS), 1, len(days)))
    n = _volume("orders", w.scale)
    cell = _spread(rng, n, base * noise)
    region, channel, day = np.unravel_index(cell, base.shape)
    hour = np.where(channel == 0, 14.0, 11.5)
    sd = np.where(channel == 0, 4.5, 2.5)
    local = np.clip(rng.normal(hour, sd), 0.0, 23.99)
    seconds = ((local - _REGION_TZ[region]) % 24.0) * _HOUR + rng.uniform(0, 59, n)
    ordered = _at(days[day], seconds)
    order = np.lexsort((cell, ordered.astype(np.int64)))
    region, channel, ordered = region[order], channel[order], ordered[order]

    account = _pick_accounts(w, rng, ordered, region)
    segment = w.acc_segment[account]
    # A few orders name accounts the CRM does not know (yet): valid orphans.
    orphan = rng.random(n) < 0.002
    account_num = np.where(orphan, 900_000 + rng.integers(0, 99_999, n), account + 1)
    u = rng.random(n)
    cum = np.cumsum(_REGION_CURRENCY_MIX, axis=1)[region]
    currency = (u[:, None] > cum).sum(axis=1)
    reps = w.employees_of("Sales")
    rep = np.where(channel == 0, -1, reps[rng.integers(0, reps.size, n)] + 1)
    rep = np.where((channel > 0) & (rng.random(n) < 0.04), -1, rep)

    completion_days = rng.lognormal(
        np.log(np.array([1.4, 2.8, 3.8])[channel] * np.array([1.0, 1.0, 1.15, 1.3])[region]), 0.5
    )
    cancelled = rng.random(n) < np.array([0.035, 0.02, 0.03])[channel]
    done = ordered + _seconds(
        np.where(cancelled, rng.uniform(0.5, 40, n) * _HOUR, completion_days * _DAY)
    )
    fulfilled = np.where(~cancelled & (done < cal.cutoff), done, np.datetime64("NaT", "s"))
    returned = ~cancelled & (rng.random(n) < 0.02)
    returned_at = fulfilled + _seconds(rng.uniform(3, 30, n) * _DAY)
    returned_at = np.where(returned, returned_at, np.datetime64("NaT", "s"))
    no_ts = _ts(np.full(n, np.datetime64("NaT", "s")))
    w.records["orders"] = _Records(
        {
            "order_id": _ids("ORD-", np.arange(1, n + 1), 8),
            "account_id": _ids("ACC-", account_num, 6),
            "ordered_at": _ts(ordered),
            "channel": _pick(ORDER_CHANNELS, channel),
            "region": _pick(REGIONS, region),
            "sales_rep_id": _ids("EMP-", rep, 5),
            "currency": _pick(CURRENCIES, currency),
        },
        [
            (ordered, {"status": _pick(("placed",), np.zeros(n, int)), "fulfilled_at": no_ts}),
            (
                np.where(cancelled, done, fulfilled),
                {
                    "status": _pick(("fulfilled", "cancelled"), cancelled.astype(int)),
                    "fulfilled_at": _ts(fulfilled),
                },
            ),
            (
                returned_at,
                {"status": _pick(("returned",), np.zeros(n, int)), "fulfilled_at": _ts(fulfilled)},
            ),
        ],
        extras={"source_system": _pick(("webshop", "erp", "edi"), channel)},
    )

    # --- lines
    lines_per = np.minimum(1 + rng.poisson(2.0, n), 12)
    line_order = np.repeat(np.arange(n), lines_per)
    m = line_order.size
    line_number = np.arange(m) - np.repeat(np.cumsum(lines_per) - lines_per, lines_per) + 1
    popularity = 1.0 / np.arange(1, len(w.product_cost) + 1) ** 0.8
    popularity = rng.permutation(popularity) / popularity.sum()
    product = rng.choice(len(w.product_cost), m, p=popularity)
    qty_mean = np.array([c[4] for c in _CATEGORIES])[w.product_category[product]]
    boost = _SEGMENT_QUANTITY[segment[line_order]] * np.where(channel[line_order] == 1, 1.4, 1.0)
    quantity = 1 + rng.poisson(qty_mean * boost)
    list_usd = w.product_price[product]
    line_cur = currency[line_order]
    price_local = (
        list_usd
        * _REGION_PRICE_INDEX[region[line_order]]
        * rng.normal(1.0, 0.015, m)
        / w.usd_per_unit(line_cur, ordered[line_order])
    )
    price_local = np.where(
        _WHOLE_UNIT_CURRENCIES[line_cur], np.round(price_local), np.round(price_local, 2)
    )
    gross = quantity * price_local
    r = rng.random(m)
    discounted = r < np.where(channel[line_order] == 1, 0.5, 0.3)
    discount = np.where(discounted, np.round(gross * rng.uniform(0.03, 0.2, m), 2), 0.0)
    discount = np.where(_WHOLE_UNIT_CURRENCIES[line_cur], np.round(discount), discount)
    no_discount = ~discounted & (rng.random(m) < 0.08)  # null, which means 0
    unknown = rng.random(m) < 0.003  # product ids the catalog does not know
    product_num = np.where(unknown, 9000 + rng.integers(1, 999, m), product + 1)

    # Corrections in the daily window: a line's discount is fixed the next day and the
    # line delivered again (order lines have no updated_at: the later delivery wins).
    t_line = ordered[line_order]
    fix = (t_line >= cal.bounds[cal.daily_from]) & discounted & (rng.random(m) < 0.02)
    fixed_discount = np.round(discount * 1.5, 2)
    w.records["order_lines"] = _Records(
        {
            "order_id": _ids("ORD-", line_order + 1, 8),
            "line_number": _int(line_number),
            "product_id": _ids("PRD-", product_num, 4),
            "quantity": _int(quantity),
            "unit_price": _scaled(price_local, 2),
        },
        [
            (
                np.where(fix, t_line, np.datetime64("NaT", "s")),
                {"discount_amount": _scaled(discount, 2, no_discount)},
            ),
            (
                np.where(fix, t_line + np.timedelta64(_DAY, "s"), t_line),
                {
                    "discount_amount": _scaled(
                        np.where(fix, fixed_discount, discount), 2, no_discount
                    )
                },
            ),
        ],
    )

    # Revenue actually booked (in USD), which the plan is compared against.
    status_ok = ~cancelled & ~(returned & ~np.isnat(returned_at) & (returned_at < cal.cutoff))
    net = gross - discount
    usd = net * w.usd_per_unit(line_cur, t_line)
    order_usd = np.bincount(line_order, weights=usd, minlength=n)
    w.booked = (ordered, region, order_usd * status_ok)

    _gen_shipments(w, rng, region, fulfilled)
