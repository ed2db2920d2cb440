"""The operations system's records: employees, attendance, shipments, production runs and
incidents."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from expectations.contract import SEVERITIES
from orchestration.demo.business import (
    _AWKWARD_PERSON_NAMES,
    _CARRIER_TRANSIT,
    _CARRIER_TROUBLE,
    _CARRIERS,
    _DEPARTMENTS,
    _FIRST_NAMES,
    _LAST_NAMES,
    _PLANT_DEFECT_RATE,
    _PLANT_DEFECT_TROUBLE,
    _PLANT_RUNS_PER_DAY,
    _PLANT_TZ,
    _PLANT_WEEK,
    _PLANTS,
    _REGION_CARRIER_MIX,
    _REGION_PROMISE_DAYS,
    _REGION_SHARE,
    _REGION_TZ,
    _RETIRED_SERVICE,
    _SERVICES,
    REGIONS,
    _volume,
)
from orchestration.demo.columns import _date, _ids, _int, _nulls, _overwrite, _pick, _scaled, _ts
from orchestration.demo.draws import _local_hours
from orchestration.demo.timeline import _DAY, _HOUR, _at, _seconds, _signed_seconds, _weekday
from orchestration.demo.world import _Records, _World


def _gen_employees(w: _World) -> None:
    rng = w.rng("employees")
    cal = w.cal
    n = _volume("employees", w.scale)
    shares = np.array([d[1] for d in _DEPARTMENTS])
    # Largest remainder with at least one per department, so tiny scales have them all.
    counts = np.maximum(1, np.floor(shares * n)).astype(int)
    while counts.sum() < n:
        counts[np.argmax(shares * n - counts)] += 1
    dept = np.repeat(np.arange(len(_DEPARTMENTS)), counts)
    n = len(dept)
    team_count = np.array([len(d[2]) for d in _DEPARTMENTS])[dept]
    team = (rng.random(n) * team_count).astype(int)
    team_offset = np.concatenate([[0], np.cumsum([len(d[2]) for d in _DEPARTMENTS])])[:-1]
    team_names = [t for d in _DEPARTMENTS for t in d[2]]
    team_code = np.where(rng.random(n) < 0.04, -1, team_offset[dept] + team)

    customer_facing = np.isin(dept, [0, 1])
    region = np.where(
        customer_facing,
        rng.choice(len(REGIONS), n, p=_REGION_SHARE),
        np.where(rng.random(n) < 0.7, 1, 0),
    )
    region_out = np.where(rng.random(n) < 0.04, -1, region)

    start = cal.start
    # Two thirds were hired before the history starts; the rest join as the firm grows.
    before = rng.random(n) < 0.65
    hired = np.where(
        before,
        start - rng.integers(30, 9 * 365, n),
        start + (np.sqrt(rng.random(n)) * (cal.end - start).astype(np.int64)).astype(int),
    ).astype("datetime64[D]")
    first_of_dept = np.r_[0, np.cumsum(counts)[:-1]]
    hired[first_of_dept] = start - rng.integers(6 * 365, 10 * 365, len(first_of_dept))
    tenure = rng.exponential(365.25 / 0.11, n).astype(int) + 30
    terminated = (np.maximum(hired, start - 60) + tenure).astype("datetime64[D]")
    terminated[first_of_dept] = np.datetime64("NaT")
    leaves = terminated <= cal.end
    terminated = np.where(leaves, terminated, np.datetime64("NaT", "D"))

    # Each team reports to its earliest hire, who reports to the department head.
    key = dept * 100 + np.maximum(team_code, 0)
    by_team = np.lexsort((hired.astype(np.int64), key))
    team_keys, first = np.unique(key[by_team], return_index=True)
    lead = by_team[first][np.searchsorted(team_keys, key)]
    head = first_of_dept[dept]
    manager = np.where(lead == np.arange(n), head, lead)
    manager = np.where(np.arange(n) == head, -1, manager)

    first_names = _pick(_FIRST_NAMES, rng.integers(0, len(_FIRST_NAMES), n))
    last_names = _pick(_LAST_NAMES, rng.integers(0, len(_LAST_NAMES), n))
    full = _overwrite(
        pc.binary_join_element_wise(first_names, last_names, " "), rng, _AWKWARD_PERSON_NAMES
    )

    w.emp_department, w.emp_region = dept, region
    hire_ts = hired.astype("datetime64[s]") + np.timedelta64(9 * _HOUR, "s")
    term_ts = terminated.astype("datetime64[s]") + np.timedelta64(17 * _HOUR, "s")
    w.records["employees"] = _Records(
        {
            "employee_id": _ids("EMP-", np.arange(1, n + 1), 5),
            "full_name": full,
            "department": _pick([d[0] for d in _DEPARTMENTS], dept),
            "team": _pick(team_names, team_code),
            "region": _pick(REGIONS, region_out),
            "manager_id": _ids("EMP-", np.where(manager >= 0, manager + 1, -1), 5),
            "hired_at": _date(hired),
        },
        [
            (hire_ts, {"terminated_at": _nulls(n, pa.date32())}),
            (term_ts, {"terminated_at": _date(terminated)}),
        ],
    )
    w.emp_hired, w.emp_terminated = hired, terminated


def _gen_attendance(w: _World) -> None:
    rng = w.rng("attendance")
    cal = w.cal
    days = cal.days
    md = (
        (days.astype("datetime64[M]").astype(np.int64) % 12 + 1) * 100
        + (days - days.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64)
        + 1
    )
    holiday = np.isin(md, [101, 1225, 1226])
    workdays = days[(_weekday(days) < 5) & ~holiday]
    n_emp, n_wd = len(w.emp_hired), len(workdays)
    employed = (workdays[None, :] >= w.emp_hired[:, None]) & ~(
        workdays[None, :] >= w.emp_terminated[:, None]
    )
    # Leave comes in blocks: about four a year of one to ten days.
    years = n_wd / 261
    n_blocks = rng.poisson(4.2 * years, n_emp)
    block_emp = np.repeat(np.arange(n_emp), n_blocks)
    block_start = rng.integers(0, n_wd, block_emp.size)
    block_len = rng.integers(1, 11, block_emp.size)
    day_emp = np.repeat(block_emp, block_len)
    offsets = np.arange(block_len.sum()) - np.repeat(np.cumsum(block_len) - block_len, block_len)
    day_idx = np.repeat(block_start, block_len) + offsets
    keep = day_idx < n_wd
    on_leave = np.zeros((n_emp, n_wd), bool)
    on_leave[day_emp[keep], day_idx[keep]] = True

    emp, wd = np.nonzero(employed)
    work_date = workdays[wd]
    part_time = rng.random(n_emp) < 0.05
    hours = np.where(on_leave[emp, wd], 0.0, np.where(part_time[emp], 6.0, 8.0))
    # Support loses people in the last months: fewer check-ins (and slower tickets).
    support = w.emp_department[emp] == 1
    p_present = 0.968 - 0.01 * np.isin(_weekday(work_date), [0, 4])
    p_present = p_present - 0.11 * support * cal.trouble(work_date)
    present = (hours > 0) & (rng.random(emp.size) < p_present)
    tz = _REGION_TZ[w.emp_region[emp]]
    # Local morning, wrapped into the work date's UTC day like every event here.
    check_in = _at(work_date, _local_hours(rng, np.full(emp.size, 8.7), 0.45, tz))
    stay = hours * _HOUR + rng.normal(35 * 60, 25 * 60, emp.size)
    check_out = check_in + _seconds(np.maximum(stay, 15 * 60))
    forgot = rng.random(emp.size) < 0.012
    check_in = np.where(present, check_in, np.datetime64("NaT", "s"))
    # A clock-out after the cut-off has not happened yet as of the end date.
    synced = present & ~forgot & (check_out < cal.cutoff)
    check_out = np.where(synced, check_out, np.datetime64("NaT", "s"))

    # In the daily window some clock-outs sync a day late: the row comes first without
    # check_out and again with it in the next day's file (later delivery wins).
    t_day = work_date.astype("datetime64[s]") + np.timedelta64(12 * _HOUR, "s")
    late = (
        (t_day >= cal.bounds[cal.daily_from]) & ~np.isnat(check_out) & (rng.random(emp.size) < 0.03)
    )
    w.records["attendance"] = _Records(
        {
            "employee_id": _ids("EMP-", emp + 1, 5),
            "work_date": _date(work_date),
            "scheduled_hours": _scaled(hours, 1),
            "check_in_at": _ts(check_in),
        },
        [
            (
                np.where(late, t_day, np.datetime64("NaT", "s")),
                {"check_out_at": _ts(np.full(emp.size, np.datetime64("NaT", "s")))},
            ),
            (
                np.where(late, t_day + np.timedelta64(_DAY, "s"), t_day),
                {"check_out_at": _ts(check_out)},
            ),
        ],
    )


def _gen_shipments(
    w: _World, rng: np.random.Generator, region: np.ndarray, fulfilled: np.ndarray
) -> None:
    """A shipment per fulfilled order, sent when the order is fulfilled."""
    cal = w.cal
    shipped_orders = np.flatnonzero(~np.isnat(fulfilled))
    # Some orders ship in two parcels, the second a little later.
    split = rng.random(shipped_orders.size) < 0.06
    order_idx = np.concatenate([shipped_orders, shipped_orders[split]])
    shipped = np.concatenate(
        [
            fulfilled[shipped_orders],
            fulfilled[shipped_orders[split]] + _seconds(rng.uniform(2, 36, split.sum()) * _HOUR),
        ]
    )
    keep = shipped < cal.cutoff
    order_idx, shipped = order_idx[keep], shipped[keep]
    order = np.lexsort((order_idx, shipped.astype(np.int64)))
    order_idx, shipped = order_idx[order], shipped[order]
    n = order_idx.size
    reg = region[order_idx]
    cum = np.cumsum(_REGION_CARRIER_MIX, axis=1)[reg]
    carrier = (rng.random(n)[:, None] > cum).sum(axis=1)
    promise = _REGION_PROMISE_DAYS[reg] * _DAY
    # Two carriers run into capacity trouble in the last three months: late deliveries.
    slow = 1.0 + 0.75 * _CARRIER_TROUBLE[carrier] * cal.trouble(shipped)
    transit = promise * _CARRIER_TRANSIT[carrier] * slow * rng.lognormal(0.0, 0.3, n)
    delivered = shipped + _seconds(transit)
    delivered = np.where(delivered < cal.cutoff, delivered, np.datetime64("NaT", "s"))
    promised = shipped + _seconds(promise)
    w.records["shipments"] = _Records(
        {
            "shipment_id": _ids("SHP-", np.arange(1, n + 1), 8),
            "order_id": _ids("ORD-", order_idx + 1, 8),
            "carrier": _pick(_CARRIERS, carrier),
            "shipped_at": _ts(shipped),
            "promised_at": _ts(promised),
        },
        [
            (shipped, {"delivered_at": _ts(np.full(n, np.datetime64("NaT", "s")))}),
            (delivered, {"delivered_at": _ts(delivered)}),
        ],
    )


def _gen_production(w: _World) -> None:
    rng = w.rng("production_runs")
    cal = w.cal
    days = cal.days
    lam = _PLANT_RUNS_PER_DAY[:, None] * w.scale * _PLANT_WEEK[:, _weekday(days)]
    counts = rng.poisson(lam)
    plant, day = np.nonzero(np.ones_like(counts, bool))
    plant, day = np.repeat(plant, counts.ravel()), np.repeat(day, counts.ravel())
    n = plant.size
    shift = rng.choice([6.0, 14.0, 22.0], n, p=[0.45, 0.35, 0.2])
    start_local = shift + rng.normal(0.3, 0.25, n)
    started = days[day].astype("datetime64[s]") + _signed_seconds(
        (start_local - _PLANT_TZ[plant]) * _HOUR
    )
    hours = rng.uniform(3.0, 8.0, n)
    ended = started + _seconds(hours * _HOUR)
    # Runs still going at the cut-off are not delivered yet.
    keep = (ended < cal.cutoff) & (ended >= cal.start.astype("datetime64[s]"))
    plant, started, ended, hours = plant[keep], started[keep], ended[keep], hours[keep]
    order = np.lexsort((plant, ended.astype(np.int64)))
    plant, started, ended, hours = plant[order], started[order], ended[order], hours[order]
    n = plant.size
    per_hour = 110 * np.array([1.0, 0.8, 1.2])[plant]
    produced = np.maximum(1, rng.normal(per_hour * hours, 60)).astype(np.int64)
    rate = _PLANT_DEFECT_RATE[plant] * (1 + _PLANT_DEFECT_TROUBLE[plant] * cal.trouble(ended))
    rate = rate * rng.lognormal(0.0, 0.35, n)
    defective = rng.binomial(produced, np.minimum(rate, 0.5))
    # Most defects are found at the end of the run, the rest at inspection a day later.
    found_first = rng.binomial(defective, 0.8)
    inspected = ended + _seconds(rng.uniform(4, 48, n) * _HOUR)
    makes = np.flatnonzero(np.isin(w.product_category, [0, 4]))
    product = np.where(rng.random(n) < 0.04, -1, makes[rng.integers(0, makes.size, n)] + 1)
    w.records["production_runs"] = _Records(
        {
            "run_id": _ids("RUN-", np.arange(1, n + 1), 7),
            "plant": _pick(_PLANTS, plant),
            "product_id": _ids("PRD-", product, 4),
            "started_at": _ts(started),
            "ended_at": _ts(ended),
            "units_produced": _int(produced),
        },
        [
            (ended, {"units_defective": _int(found_first)}),
            (inspected, {"units_defective": _int(defective)}),
        ],
    )


def _gen_incidents(w: _World) -> None:
    rng = w.rng("incidents")
    cal = w.cal
    start_s = cal.start.astype("datetime64[s]")
    span = (cal.cutoff - start_s).astype(np.int64)
    months = span / (30.44 * _DAY)
    services = np.arange(len(_SERVICES))
    # Outages depend on the services, not on the data volume: the same at any scale.
    outages = rng.poisson(np.array([s[4] for s in _SERVICES]) * months)
    svc = np.repeat(services, outages)
    started = start_s + _seconds(rng.random(svc.size) * span)
    minutes = rng.lognormal(np.log(np.array([s[5] for s in _SERVICES])[svc]), 0.8)
    is_outage = np.ones(svc.size, bool)
    tier = np.array([int(s[2][-1]) for s in _SERVICES])
    severity = np.where(tier[svc] == 1, rng.choice([0, 1], svc.size, p=[0.6, 0.4]), 1)
    # Some outages overlap a second one on the same service (a cascading failure):
    # downtime counts the union, once.
    overlap = rng.random(svc.size) < 0.08
    o_svc = svc[overlap]
    o_start = started[overlap] + _seconds(minutes[overlap] * 60 * rng.uniform(0.1, 0.8, o_svc.size))
    o_minutes = minutes[overlap] * rng.uniform(0.3, 1.5, o_svc.size)
    # Degradations that are not outages grow with the business.
    n_minor = max(6, round(30 * w.scale * months))
    m_svc = rng.choice(
        len(_SERVICES) + 1, n_minor, p=np.r_[np.full(len(_SERVICES), 0.99 / len(_SERVICES)), 0.01]
    )
    m_svc[:2] = len(_SERVICES)  # at least a couple of orphans at any scale
    m_start = start_s + _seconds(rng.random(n_minor) * span)
    m_minutes = rng.lognormal(np.log(90.0), 1.0, n_minor)
    # One outage is still going on at the end.
    ongoing_svc = np.array([3])
    ongoing_start = np.array([cal.cutoff - np.timedelta64(150 * 60 + 17, "s")])

    svc_all = np.concatenate([svc, o_svc, m_svc, ongoing_svc])
    started_all = np.concatenate([started, o_start, m_start, ongoing_start])
    minutes_all = np.concatenate([minutes, o_minutes, m_minutes, [np.inf]])
    outage_all = np.concatenate(
        [is_outage, np.ones(o_svc.size, bool), np.zeros(n_minor, bool), [True]]
    )
    severity_all = np.concatenate([severity, np.full(o_svc.size, 1), np.full(n_minor, 2), [1]])
    order = np.lexsort((svc_all, started_all.astype(np.int64)))
    svc_all, started_all, minutes_all = svc_all[order], started_all[order], minutes_all[order]
    outage_all, severity_all = outage_all[order], severity_all[order]
    resolved = started_all + _seconds(np.where(np.isinf(minutes_all), 0, minutes_all * 60 + 60))
    resolved = np.where(
        np.isinf(minutes_all) | (resolved >= cal.cutoff), np.datetime64("NaT", "s"), resolved
    )
    ids = [s[0] for s in _SERVICES] + [_RETIRED_SERVICE]
    n = svc_all.size
    w.records["incidents"] = _Records(
        {
            "incident_id": _ids("INC-", np.arange(1, n + 1), 5),
            "service_id": _pick(ids, svc_all),
            "severity": _pick(SEVERITIES, severity_all),
            "is_outage": pa.array(outage_all, pa.bool_()),
            "started_at": _ts(started_all),
        },
        [
            (started_all, {"resolved_at": _ts(np.full(n, np.datetime64("NaT", "s")))}),
            (resolved, {"resolved_at": _ts(resolved)}),
        ],
    )
