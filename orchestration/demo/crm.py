"""The CRM system's records: accounts, leads and marketing spend, opportunities, tickets."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from expectations.contract import (
    LEAD_SOURCES,
    LEAD_STATUSES,
    PRIORITIES,
    SEGMENTS,
    STAGES,
    TICKET_CHANNELS,
)
from orchestration.demo.business import (
    _ACCOUNT_SUFFIXES,
    _ACCOUNT_WORDS,
    _AWKWARD_ACCOUNT_NAMES,
    _COST_PER_LEAD_USD,
    _FIRST_RESPONSE_MEDIAN_H,
    _INDUSTRIES,
    _LEAD_CONVERSION,
    _LEAD_SOURCE_SHARE,
    _LEAD_SOURCE_WEEK,
    _PRIORITY_SHARE,
    _REGION_BOOK_CURRENCY,
    _REGION_GROWTH,
    _REGION_SHARE,
    _REGION_TZ,
    _RESOLUTION_MEDIAN_H,
    _SEGMENT_CHURN_PER_YEAR,
    _SEGMENT_SHARE,
    _SLA_RESOLUTION_H,
    _TICKET_CHANNEL_RESPONSE,
    _TICKET_CHANNEL_SHARE,
    _WHOLE_UNIT_CURRENCIES,
    CURRENCIES,
    REGIONS,
    _volume,
)
from orchestration.demo.columns import _date, _ids, _int, _nulls, _overwrite, _pick, _scaled, _ts
from orchestration.demo.draws import _local_hours, _spread
from orchestration.demo.timeline import _DAY, _HOUR, _at, _season, _seconds, _weekday
from orchestration.demo.world import _pick_accounts, _Records, _World


def _gen_accounts(w: _World) -> None:
    rng = w.rng("accounts")
    cal = w.cal
    n = _volume("accounts", w.scale)
    # At least two accounts per region so every region has customers from day one.
    region = np.concatenate(
        [np.repeat(np.arange(len(REGIONS)), 2), rng.choice(len(REGIONS), n - 8, p=_REGION_SHARE)]
    )
    n_days = len(cal.days)
    # A third were migrated into the CRM in the first weeks; the rest sign up as the
    # business grows (faster where the region grows faster).
    migrated = rng.random(n) < 0.34
    migrated[:8] = True
    u = rng.random(n)
    g = _REGION_GROWTH[region]
    grown = np.log1p(u * np.expm1(g * n_days / 365.25)) / g * 365.25
    day = np.where(migrated, rng.integers(0, 40, n), np.minimum(grown.astype(int), n_days - 1))
    day[:8] = 0
    local = np.where(migrated, 9.0, 11.0)
    created = _at(cal.days[day], _local_hours(rng, local, 2.5, _REGION_TZ[region]))
    created[:8] = cal.start.astype("datetime64[s]") + np.timedelta64(300, "s") * np.arange(1, 9)
    order = np.lexsort((np.arange(n), created.astype(np.int64)))
    region, created, migrated = region[order], created[order], migrated[order]

    segment = rng.choice(3, n, p=_SEGMENT_SHARE)
    life = rng.exponential(365.25 / _SEGMENT_CHURN_PER_YEAR[segment]) * _DAY
    churned = created + _seconds(life + 3 * _DAY)
    churned = np.where(churned < cal.cutoff, churned, np.datetime64("NaT", "s"))

    words = rng.integers(0, len(_ACCOUNT_WORDS), (2, n))
    suffix = rng.integers(0, len(_ACCOUNT_SUFFIXES), n)
    name = pc.binary_join_element_wise(
        _pick(_ACCOUNT_WORDS, words[0]), _pick(_ACCOUNT_WORDS, words[1]),
        _pick(_ACCOUNT_SUFFIXES, suffix), " ",
    )  # fmt: skip
    name = _overwrite(name, rng, _AWKWARD_ACCOUNT_NAMES)
    industry = np.where(rng.random(n) < 0.06, -1, rng.integers(0, len(_INDUSTRIES), n))
    owner = np.empty(n, np.int64)
    for r in range(len(REGIONS)):
        reps = w.employees_of("Sales", r)
        mine = np.flatnonzero(region == r)
        owner[mine] = reps[rng.integers(0, reps.size, mine.size)]
    owner = np.where(rng.random(n) < 0.08, -1, owner + 1)

    w.acc_created, w.acc_churned, w.acc_region, w.acc_segment = created, churned, region, segment
    w.records["accounts"] = _Records(
        {
            "account_id": _ids("ACC-", np.arange(1, n + 1), 6),
            "account_name": name,
            "industry": _pick(_INDUSTRIES, industry),
            "segment": _pick(SEGMENTS, segment),
            "region": _pick(REGIONS, region),
            "owner_id": _ids("EMP-", owner, 5),
            "created_at": _ts(created),
        },
        [
            (created, {"churned_at": _ts(np.full(n, np.datetime64("NaT", "s")))}),
            (churned, {"churned_at": _ts(churned)}),
        ],
        extras={"import_batch": _pick(("crm-migration-2024", "live"), (~migrated).astype(int))},
    )


def _gen_leads_and_spend(w: _World) -> None:
    rng = w.rng("leads")
    cal = w.cal
    days = cal.days
    n_days = len(days)
    years = cal.years(days)
    # Events: about ten a year per region; event leads come in the days after one.
    event_day = (rng.random((len(REGIONS), n_days)) < 10 / 365) & (_weekday(days) < 5)
    kernel = np.array([1.0, 0.8, 0.5, 0.3, 0.15])
    boost = np.zeros((len(REGIONS), n_days))
    for lag, k in enumerate(kernel):  # five lags, not a per-row loop
        boost[:, lag:] += k * event_day[:, : n_days - lag]
    weights = (
        _LEAD_SOURCE_SHARE[:, None, None]
        * _REGION_SHARE[None, :, None]
        * np.exp(_REGION_GROWTH[None, :, None] * years[None, None, :])
        * _season(days)[None, None, :]
        * _LEAD_SOURCE_WEEK[:, _weekday(days)][:, None, :]
    )
    weights[2] *= 0.15 + 6.0 * boost
    noise = rng.lognormal(0.0, 0.12, weights.shape)
    weights *= noise
    n = _volume("leads", w.scale)
    cell = _spread(rng, n, weights)
    source, region, day = np.unravel_index(cell, weights.shape)
    created = _at(days[day], _local_hours(rng, np.full(n, 12.5), 3.2, _REGION_TZ[region]))
    order = np.lexsort((cell, created.astype(np.int64)))
    source, region, created = source[order], region[order], created[order]

    converts = rng.random(n) < _LEAD_CONVERSION[source] * np.array([1.0, 0.9, 1.1, 0.85])[region]
    disqualified = ~converts & (rng.random(n) < 0.45)
    settle = rng.gamma(2.0, 4.0, n) * _DAY + 3600  # days until a lead is settled
    final_t = created + _seconds(settle)
    final_t = np.where(converts | disqualified, final_t, np.datetime64("NaT", "s"))
    # Qualification comes before the lead is settled, so the versions stay in time order.
    qualifies = converts | (rng.random(n) < 0.3)
    open_delay = rng.gamma(2.0, 2.0, n) * _DAY
    qualify_delay = np.where(np.isnat(final_t), open_delay, settle * rng.uniform(0.2, 0.6, n))
    qualify_t = np.where(qualifies, created + _seconds(qualify_delay), np.datetime64("NaT", "s"))
    account = _pick_accounts(w, rng, np.where(np.isnat(final_t), created, final_t), region)
    owner_pool = w.employees_of("Sales")
    owner = np.where(rng.random(n) < 0.22, -1, owner_pool[rng.integers(0, owner_pool.size, n)] + 1)
    no_ts = _ts(np.full(n, np.datetime64("NaT", "s")))
    no_text = _nulls(n, pa.string())
    status_final = np.where(converts, 2, 3)
    w.records["leads"] = _Records(
        {
            "lead_id": _ids("LEAD-", np.arange(1, n + 1), 7),
            "created_at": _ts(created),
            "source": _pick(LEAD_SOURCES, source),
            "region": _pick(REGIONS, region),
            "owner_id": _ids("EMP-", owner, 5),
        },
        [
            (
                created,
                {
                    "status": _pick(LEAD_STATUSES, np.zeros(n, int)),
                    "converted_at": no_ts,
                    "account_id": no_text,
                },
            ),
            (
                qualify_t,
                {
                    "status": _pick(LEAD_STATUSES, np.ones(n, int)),
                    "converted_at": no_ts,
                    "account_id": no_text,
                },
            ),
            (
                final_t,
                {
                    "status": _pick(LEAD_STATUSES, status_final),
                    "converted_at": _ts(np.where(converts, final_t, np.datetime64("NaT", "s"))),
                    "account_id": _ids("ACC-", np.where(converts, account + 1, -1), 6),
                },
            ),
        ],
    )

    # Spend follows the expected (not the drawn) leads: budgets are set in advance.
    expected = weights / weights.sum() * n
    cpl = _COST_PER_LEAD_USD[:, None, None] * rng.lognormal(0.0, 0.18, weights.shape)
    usd = expected * cpl
    usd[1] = np.where(_weekday(days)[None, :] < 5, usd[1], 0.0)  # referral bonuses on weekdays
    s, r, d = (a.ravel() for a in np.meshgrid(*map(np.arange, weights.shape), indexing="ij"))
    keep = np.lexsort((r, s, d))
    s, r, d = s[keep], r[keep], d[keep]
    currency = _REGION_BOOK_CURRENCY[r]
    t = days[d].astype("datetime64[s]") + np.timedelta64(23 * _HOUR, "s")
    local = usd[s, r, d] / w.usd_per_unit(currency, t)
    local = np.where(_WHOLE_UNIT_CURRENCIES[currency], np.round(local), local)
    w.records["marketing_spend"] = _Records(
        {
            "spend_date": _date(days[d]),
            "channel": _pick(LEAD_SOURCES, s),
            "region": _pick(REGIONS, r),
            "amount": _scaled(local, 2),
            "currency": _pick(CURRENCIES, currency),
        },
        [(t, {})],
    )


def _gen_opportunities(w: _World) -> None:
    rng = w.rng("opportunities")
    cal = w.cal
    days = cal.days
    n = _volume("opportunities", w.scale)
    weights = (
        np.exp(0.22 * cal.years(days)) * _season(days) * np.where(_weekday(days) < 5, 1.0, 0.08)
    )
    day = _spread(rng, n, weights)
    created = _at(days[day], rng.uniform(13 * _HOUR, 22 * _HOUR, n))
    created = np.sort(created)
    account = _pick_accounts(w, rng, created, None)
    segment, region = w.acc_segment[account], w.acc_region[account]
    usd = rng.lognormal(np.log(np.array([9_000.0, 42_000.0, 160_000.0])[segment]), 0.6)
    cycle = rng.gamma(2.2, np.array([14.0, 25.0, 42.0])[segment]) * _DAY + 2 * _HOUR
    closed = created + _seconds(cycle)
    # Win rate dips for four months and recovers in the last three (a new sales playbook).
    ago = cal.months_before_end(closed)
    story = np.select([ago >= 7, ago >= 3, ago == 2, ago == 1], [1.0, 0.62, 0.92, 1.0], 1.08)
    p_win = (
        np.array([0.34, 0.28, 0.22])[segment]
        * np.array([1.0, 1.05, 0.95, 0.9])[region]
        * story
        * np.where(rng.random(n) < 0.5, 0.9, 1.1)
    )
    won = rng.random(n) < p_win
    is_closed = closed < cal.cutoff
    mid = created + _seconds(cycle * rng.uniform(0.3, 0.7, n))
    mid_stage = np.where(rng.random(n) < 0.6, 1, 2)
    currency = _REGION_BOOK_CURRENCY[region]
    rate = w.usd_per_unit(currency, created)
    amount = usd / rate
    amount = np.where(_WHOLE_UNIT_CURRENCIES[currency], np.round(amount, -2), np.round(amount, -1))
    final_amount = np.where(won, np.round(amount * rng.uniform(0.85, 1.05, n), 0), amount)
    owner_pool = w.employees_of("Sales")
    owner = np.where(rng.random(n) < 0.05, -1, owner_pool[rng.integers(0, owner_pool.size, n)] + 1)
    no_ts = _ts(np.full(n, np.datetime64("NaT", "s")))
    w.records["opportunities"] = _Records(
        {
            "opportunity_id": _ids("OPP-", np.arange(1, n + 1), 6),
            "account_id": _ids("ACC-", account + 1, 6),
            "owner_id": _ids("EMP-", owner, 5),
            "created_at": _ts(created),
            "currency": _pick(CURRENCIES, currency),
        },
        [
            (
                created,
                {
                    "stage": _pick(STAGES, np.zeros(n, int)),
                    "amount": _scaled(amount, 2),
                    "closed_at": no_ts,
                },
            ),
            (
                mid,
                {
                    "stage": _pick(STAGES, mid_stage),
                    "amount": _scaled(amount, 2),
                    "closed_at": no_ts,
                },
            ),
            (
                np.where(is_closed, closed, np.datetime64("NaT", "s")),
                {
                    "stage": _pick(STAGES, np.where(won, 3, 4)),
                    "amount": _scaled(final_amount, 2),
                    "closed_at": _ts(closed),
                },
            ),
        ],
    )


def _gen_tickets(w: _World) -> None:
    rng = w.rng("tickets")
    cal = w.cal
    days = cal.days
    n = _volume("tickets", w.scale)
    weekday = _weekday(days) < 5
    # The phone line is closed at weekends (a few calls reach the on-call number).
    weekend = np.where((np.arange(4) == 1)[:, None], 0.06, 0.3)
    weights = (
        np.exp(0.2 * cal.years(days))[None, :]
        * _TICKET_CHANNEL_SHARE[:, None]
        * np.where(weekday[None, :], 1.0, weekend)
    )
    cell = _spread(rng, n, weights)
    channel, day = np.unravel_index(cell, weights.shape)
    acc_region_guess = rng.choice(len(REGIONS), n, p=_REGION_SHARE)
    created = _at(days[day], _local_hours(rng, np.full(n, 12.0), 3.0, _REGION_TZ[acc_region_guess]))
    order = np.lexsort((cell, created.astype(np.int64)))
    channel, created, acc_region_guess = channel[order], created[order], acc_region_guess[order]
    priority = rng.choice(4, n, p=_PRIORITY_SHARE)
    account = _pick_accounts(w, rng, created, acc_region_guess)
    account_num = np.where(rng.random(n) < 0.08, -1, account + 1)
    agents = w.employees_of("Support")
    assignee = np.where(rng.random(n) < 0.03, -1, agents[rng.integers(0, agents.size, n)] + 1)

    trouble = cal.trouble(created)
    # Fewer agents in the last months: first responses and resolutions take longer.
    response_h = rng.lognormal(
        np.log(
            _FIRST_RESPONSE_MEDIAN_H[priority]
            * _TICKET_CHANNEL_RESPONSE[channel]
            * (1 + 1.4 * trouble)
        ),
        0.6,
    )
    resolve_h = rng.lognormal(np.log(_RESOLUTION_MEDIAN_H[priority] * (1 + 0.45 * trouble)), 0.7)
    first_response = created + _seconds(response_h * _HOUR + 60)
    resolved = first_response + _seconds(resolve_h * _HOUR)
    survey = resolved + _seconds(rng.uniform(1, 72, n) * _HOUR)
    answers = rng.random(n) < 0.4
    slowness = np.log((resolved - created).astype(np.int64) / _HOUR / _SLA_RESOLUTION_H[priority])
    score = np.clip(
        np.round(rng.normal(4.3 - 0.7 * np.maximum(slowness + 0.8, 0), 0.8)), 1, 5
    ).astype(int)
    no_ts = _ts(np.full(n, np.datetime64("NaT", "s")))
    no_score = _int(np.zeros(n), np.ones(n, bool))
    w.records["tickets"] = _Records(
        {
            "ticket_id": _ids("TCK-", np.arange(1, n + 1), 7),
            "account_id": _ids("ACC-", account_num, 6),
            "created_at": _ts(created),
            "priority": _pick(PRIORITIES, priority),
            "channel": _pick(TICKET_CHANNELS, channel),
            "assignee_id": _ids("EMP-", assignee, 5),
        },
        [
            (
                created,
                {"first_response_at": no_ts, "resolved_at": no_ts, "satisfaction_score": no_score},
            ),
            (
                first_response,
                {
                    "first_response_at": _ts(first_response),
                    "resolved_at": no_ts,
                    "satisfaction_score": no_score,
                },
            ),
            (
                resolved,
                {
                    "first_response_at": _ts(first_response),
                    "resolved_at": _ts(resolved),
                    "satisfaction_score": no_score,
                },
            ),
            (
                np.where(answers, survey, np.datetime64("NaT", "s")),
                {
                    "first_response_at": _ts(first_response),
                    "resolved_at": _ts(resolved),
                    "satisfaction_score": _int(score),
                },
            ),
        ],
    )
