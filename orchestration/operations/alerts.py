"""Early warning: alerts on KPIs that stay off target, with hysteresis.

Each KPI is watched at its review cadence over complete periods. ``raise_after`` (N)
consecutive periods in a watched status raise an alert; it clears only after
``clear_after`` (M) consecutive green periods. Any other status restarts the green
count, so a KPI that flaps between red and green stays raised instead of raising and
clearing every period.

The alert history is recomputed from the whole published series on every run, so it is
reproducible and always matches the numbers it is published with (``kpi.kpi_alerts``).
An alert's ``evaluated_at`` is when it was first evaluated as it stands, so a run on the
same numbers leaves the table exactly as it was.
What was *sent* is the one thing that is state: ``alerting.notifications`` in the working
warehouse records every delivered notification, so nothing is sent twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import yaml

from orchestration.crash_points import pause_point
from reports.formatting import format_plain

WATCHABLE = ("red", "amber")
CADENCE_GRAIN = {"daily": "day", "weekly": "week", "monthly": "month", "quarterly": "quarter"}
GRAIN_WORD = {"day": "days", "week": "weeks", "month": "months", "quarter": "quarters"}

ALERTS_TABLE = "kpi.kpi_alerts"
LOG_SCHEMA = "alerting"
LOG_TABLE = f"{LOG_SCHEMA}.notifications"

ALERT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("alert_id", "VARCHAR"),
    ("kpi_id", "VARCHAR"),
    ("kpi_name", "VARCHAR"),
    ("owner", "VARCHAR"),
    ("unit", "VARCHAR"),
    ("grain", "VARCHAR"),
    ("dimension", "VARCHAR"),
    ("dimension_value", "VARCHAR"),
    ("state", "VARCHAR"),
    ("statuses", "VARCHAR"),
    ("raise_after", "INTEGER"),
    ("clear_after", "INTEGER"),
    ("streak_start", "DATE"),
    ("raised_period_start", "DATE"),
    ("raised_status", "VARCHAR"),
    ("raised_value", "DOUBLE"),
    ("raised_target", "DOUBLE"),
    ("cleared_period_start", "DATE"),
    ("periods_alerting", "INTEGER"),
    ("last_period_start", "DATE"),
    ("last_status", "VARCHAR"),
    ("last_value", "DOUBLE"),
    ("last_target", "DOUBLE"),
    ("evaluated_at", "TIMESTAMP"),
)


class RulesError(ValueError):
    """The alert rules file cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Rule:
    statuses: frozenset[str] = frozenset({"red"})
    raise_after: int = 2
    clear_after: int = 2
    dimensions: tuple[str, ...] = ("all",)
    enabled: bool = True


@dataclass(frozen=True)
class Rules:
    default: Rule = field(default_factory=Rule)
    per_kpi: dict[str, Rule] = field(default_factory=dict)

    def for_kpi(self, kpi_id: str) -> Rule:
        return self.per_kpi.get(kpi_id, self.default)

    @property
    def dimensions(self) -> set[str]:
        return {d for r in (self.default, *self.per_kpi.values()) for d in r.dimensions}


def _rule(raw: object, base: Rule, where: str) -> Rule:
    if raw is None:
        return base
    if not isinstance(raw, dict):
        raise RulesError(f"{where} must be a mapping.")
    unknown = set(raw) - {"statuses", "raise_after", "clear_after", "dimensions", "enabled"}
    if unknown:
        raise RulesError(f"{where} has unknown keys: {', '.join(sorted(unknown))}.")
    statuses = raw.get("statuses", sorted(base.statuses))
    if isinstance(statuses, str):
        statuses = [statuses]
    if not statuses or any(s not in WATCHABLE for s in statuses):
        raise RulesError(f"{where}.statuses must be a non-empty list of {', '.join(WATCHABLE)}.")
    counts = {}
    for key in ("raise_after", "clear_after"):
        value = raw.get(key, getattr(base, key))
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise RulesError(f"{where}.{key} must be a whole number of at least 1.")
        counts[key] = value
    dimensions = raw.get("dimensions", list(base.dimensions))
    if isinstance(dimensions, str):
        dimensions = [dimensions]
    if not dimensions or not all(isinstance(d, str) and d for d in dimensions):
        raise RulesError(f"{where}.dimensions must be a list of dimension names ('all', ...).")
    enabled = raw.get("enabled", base.enabled)
    if not isinstance(enabled, bool):
        raise RulesError(f"{where}.enabled must be true or false.")
    return Rule(
        statuses=frozenset(statuses),
        dimensions=tuple(dict.fromkeys(dimensions)),
        enabled=enabled,
        **counts,
    )


def load_rules(path: Path) -> Rules:
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as exc:
        raise RulesError(f"Cannot read the alert rules {path}: {exc.strerror}.") from None
    except yaml.YAMLError as exc:
        raise RulesError(f"The alert rules {path} are not valid YAML: {exc}.") from None
    if not isinstance(raw, dict) or set(raw) - {"defaults", "kpis"}:
        raise RulesError(f"The alert rules {path} may only hold 'defaults' and 'kpis'.")
    default = _rule(raw.get("defaults"), Rule(), f"{path}: defaults")
    kpis = raw.get("kpis") or {}
    if not isinstance(kpis, dict):
        raise RulesError(f"{path}: kpis must map KPI ids to rules.")
    return Rules(
        default=default,
        per_kpi={str(k): _rule(v, default, f"{path}: kpis.{k}") for k, v in kpis.items()},
    )


# --- evaluation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    period_start: date
    period_end: date
    status: str
    value: float | None = None
    target: float | None = None


@dataclass
class Episode:
    """One alert: from the period that raised it to the one that cleared it (if any)."""

    streak_start: date
    raised: Period
    last: Period
    periods_alerting: int = 1
    cleared: Period | None = None

    @property
    def is_open(self) -> bool:
        return self.cleared is None


def evaluate_series(periods: Sequence[Period], rule: Rule) -> list[Episode]:
    """Every alert episode of one series (consecutive periods, oldest first)."""
    episodes: list[Episode] = []
    current: Episode | None = None
    bad = green = 0
    streak_start: date | None = None
    previous_end: date | None = None
    for period in periods:
        if previous_end is not None and period.period_start != previous_end:
            # A period that is not published (a slice without records) is no evidence either
            # way: it breaks a streak, it does not continue one.
            bad = green = 0
        previous_end = period.period_end
        if current is None:
            if period.status in rule.statuses:
                if bad == 0:
                    streak_start = period.period_start
                bad += 1
                if bad >= rule.raise_after:
                    current = Episode(streak_start=streak_start, raised=period, last=period)
                    green = 0
            else:
                bad = 0
            continue
        current.last = period
        if period.status == "green":
            green += 1
            if green >= rule.clear_after:
                current.cleared = period
                episodes.append(current)
                current, bad = None, 0
                continue
        else:
            green = 0
        current.periods_alerting += 1
    if current is not None:
        episodes.append(current)
    return episodes


def _series(con: duckdb.DuckDBPyConnection, dimensions: Iterable[str]) -> dict[tuple, list]:
    dims = sorted(set(dimensions))
    company = "all" in dims
    others = [d for d in dims if d != "all"]
    rows = con.execute(
        f"""
        select v.kpi_id, d.name, d.owner, d.unit, v.grain, v.dimension, v.dimension_value,
               v.period_start, v.period_end, v.status, v.value, v.target
        from kpi.kpi_values v
        join kpi.kpi_definitions d on d.kpi_id = v.kpi_id and d.is_current
        where v.is_complete
          and v.grain = case d.review_cadence
              {" ".join(f"when '{c}' then '{g}'" for c, g in CADENCE_GRAIN.items())} end
          and ((? and v.dimension = 'all')
               or (v.dimension <> 'all' and list_contains(?::varchar[], v.dimension)))
        order by v.kpi_id, v.dimension, v.dimension_value, v.period_start
        """,
        [company, others],
    ).fetchall()
    series: dict[tuple, list] = {}
    for kpi_id, name, owner, unit, grain, dim, dim_value, start, end, status, value, tgt in rows:
        key = (kpi_id, name, owner, unit, grain, dim, dim_value)
        series.setdefault(key, []).append(Period(start, end, status, value, tgt))
    return series


def evaluate_warehouse(
    con: duckdb.DuckDBPyConnection, rules: Rules, evaluated_at: datetime
) -> list[dict]:
    """Every alert episode of every watched series, as rows of ``kpi.kpi_alerts``."""
    rows = []
    for key, periods in _series(con, rules.dimensions).items():
        kpi_id, name, owner, unit, grain, dimension, dimension_value = key
        rule = rules.for_kpi(kpi_id)
        if not rule.enabled or dimension not in rule.dimensions:
            continue
        for episode in evaluate_series(periods, rule):
            raised, last = episode.raised, episode.last
            rows.append(
                {
                    "alert_id": (
                        f"{kpi_id}/{grain}/{dimension}={dimension_value}/"
                        f"{raised.period_start.isoformat()}"
                    ),
                    "kpi_id": kpi_id,
                    "kpi_name": name,
                    "owner": owner,
                    "unit": unit,
                    "grain": grain,
                    "dimension": dimension,
                    "dimension_value": dimension_value,
                    "state": "open" if episode.is_open else "cleared",
                    "statuses": ",".join(sorted(rule.statuses)),
                    "raise_after": rule.raise_after,
                    "clear_after": rule.clear_after,
                    "streak_start": episode.streak_start,
                    "raised_period_start": raised.period_start,
                    "raised_status": raised.status,
                    "raised_value": raised.value,
                    "raised_target": raised.target,
                    "cleared_period_start": episode.cleared.period_start
                    if episode.cleared
                    else None,
                    "periods_alerting": episode.periods_alerting,
                    "last_period_start": last.period_start,
                    "last_status": last.status,
                    "last_value": last.value,
                    "last_target": last.target,
                    "evaluated_at": evaluated_at,
                }
            )
    return rows


def _previous_alerts(con: duckdb.DuckDBPyConnection) -> dict[str, dict]:
    exists = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'kpi' and table_name = 'kpi_alerts'"
    ).fetchone()[0]
    return {row["alert_id"]: row for row in read_alerts(con)} if exists else {}


def keep_first_evaluation(rows: list[dict], previous: dict[str, dict]) -> list[dict]:
    """Give each alert that is unchanged since the last run that run's ``evaluated_at``.

    ``evaluated_at`` is when the alert was first evaluated as it stands, so a run on
    the same numbers leaves ``kpi.kpi_alerts`` exactly as it was, and BI tools see a
    row change only when the alert does.
    """
    kept = []
    for row in rows:
        before = previous.get(row["alert_id"])
        if before is not None and all(
            before.get(name) == row[name] for name, _ in ALERT_COLUMNS if name != "evaluated_at"
        ):
            row = {**row, "evaluated_at": before["evaluated_at"]}
        kept.append(row)
    return kept


def store_alerts(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    """Replace ``kpi.kpi_alerts`` in one transaction: readers never see it half written.

    An alert that did not change keeps the ``evaluated_at`` it had.
    """
    columns = ", ".join(f"{name} {sql_type}" for name, sql_type in ALERT_COLUMNS)
    names = [name for name, _ in ALERT_COLUMNS]
    rows = keep_first_evaluation(rows, _previous_alerts(con))
    con.execute("begin transaction")
    try:
        con.execute("create schema if not exists kpi")
        con.execute(f"create or replace table {ALERTS_TABLE} ({columns})")
        if rows:
            con.executemany(
                f"insert into {ALERTS_TABLE} values ({', '.join('?' for _ in names)})",
                [[row[n] for n in names] for row in rows],
            )
        pause_point("alerts")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def read_alerts(con: duckdb.DuckDBPyConnection) -> list[dict]:
    cursor = con.execute(f"select * from {ALERTS_TABLE} order by raised_period_start, alert_id")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# --- what to send -------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertEvent:
    kind: str  # "raised" or "cleared"
    alert: dict

    @property
    def event_id(self) -> str:
        return f"{self.alert['alert_id']}#{self.kind}"

    @property
    def period_start(self) -> date:
        a = self.alert
        return a["raised_period_start"] if self.kind == "raised" else a["cleared_period_start"]


def ensure_log(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {LOG_SCHEMA}")
    con.execute(
        f"""
        create table if not exists {LOG_TABLE} (
            event_id varchar not null,
            channel varchar not null,
            alert_id varchar not null,
            event varchar not null,
            kpi_id varchar not null,
            period_start date not null,
            delivered_at timestamp not null,
            run_id varchar,
            primary key (event_id, channel)
        )
        """
    )


def delivered(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    rows = con.execute(f"select event_id, channel from {LOG_TABLE}").fetchall()
    return {(event_id, channel) for event_id, channel in rows}


def due_events(alerts: Sequence[dict], sent: set[tuple[str, str]], channel: str) -> list:
    """The events ``channel`` still has to carry.

    An open alert is announced (also on the first run, or on a newly configured channel:
    it is the current state). A clearance is announced only where the raise was, so an
    episode that came and went while nothing was sent (history) stays quiet.
    """
    events = []
    for alert in alerts:
        raised = AlertEvent("raised", alert)
        if alert["state"] == "open":
            if (raised.event_id, channel) not in sent:
                events.append(raised)
        elif (raised.event_id, channel) in sent:
            cleared = AlertEvent("cleared", alert)
            if (cleared.event_id, channel) not in sent:
                events.append(cleared)
    return sorted(events, key=lambda e: (e.period_start, e.event_id))


def record_delivery(
    con: duckdb.DuckDBPyConnection,
    events: Iterable[AlertEvent],
    channel: str,
    delivered_at: datetime,
    run_id: str | None,
) -> None:
    con.executemany(
        f"insert or ignore into {LOG_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [
                e.event_id,
                channel,
                e.alert["alert_id"],
                e.kind,
                e.alert["kpi_id"],
                e.period_start,
                delivered_at,
                run_id,
            ]
            for e in events
        ],
    )


# --- words --------------------------------------------------------------------------------


def period_label(grain: str, start: date) -> str:
    if grain == "month":
        return start.strftime("%Y-%m")
    if grain == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    if grain == "week":
        return f"week of {start.isoformat()}"
    return start.isoformat()


def describe(event: AlertEvent) -> str:
    """One sentence a person can act on (plain text: e-mail body, chat message)."""
    a = event.alert
    who = f"{a['kpi_name']} ({a['kpi_id']})"
    if a["dimension"] != "all":
        who += f" for {a['dimension']} {a['dimension_value']}"
    periods = GRAIN_WORD.get(a["grain"], "periods")
    if event.kind == "raised":
        statuses = " or ".join(a["statuses"].split(","))
        return (
            f"RAISED: {who} has been {statuses} for {a['raise_after']} consecutive {periods} "
            f"up to {period_label(a['grain'], a['raised_period_start'])}: "
            f"{format_plain(a['raised_value'], a['unit'])} against a target of "
            f"{format_plain(a['raised_target'], a['unit'])}. Owner: {a['owner']}."
        )
    return (
        f"CLEARED: {who} is back in green for {a['clear_after']} consecutive {periods} "
        f"as of {period_label(a['grain'], a['cleared_period_start'])} (raised "
        f"{period_label(a['grain'], a['raised_period_start'])}). Owner: {a['owner']}."
    )
