"""Counts per month or per delivery file that rules keep between runs.

A rule on single records (an orphan key, a currency without a rate, a discount larger
than its line) judges each calendar month of its records' anchor dates on two counts:
the month's current records and the offending ones among them. The duplicate rule
judges each delivery file on its rows that repeat another one. Those counts are all a
month's or a file's verdict depends on, and a daily delivery changes them for a few
months and its own files only. So they are kept in ``quality.rule_units``, and a run
counts again only the units its deliveries can have changed.

For months (``MonthlyCounts``):

- the months of every row of a key loaded since the last count (a corrected record may
  move from one month to another), and for order lines the months of every row of
  their order, whose dates place them;
- the months of the records whose lookup gained a value since: a parent key that
  arrived late (an orphan no longer), a currency's first fx rate;
- the months between the previous as-of date and this one, in either direction
  (records enter or leave the judged span), and the months of both dates (records
  without a date count in the as-of month).

For delivery files (``FileCounts``): the files loaded since, since a file's rows never
change (a changed file is unloaded and loaded again).

For the blocking variants of the rules on single records, judged per delivery file on
the rows each delivered (``DeliveryCounts``): the files loaded since, and the files of
the rows whose verdict can have changed as above: order lines whose order was delivered
again, records whose lookup gained a value, records dated between the two as-of dates.

Every other unit's counts are what a full count would find, because raw rows are only
ever added. The rule itself, which Great Expectations validates, then reads the units
over its thresholds from the kept counts and computes the marks of those units alone.

Counting starts over from every record (and says why) when the rule has no counts yet,
its counting SQL changed (a new condition, a new contract; not a threshold), a delivery
file was removed or changed since (rows left the raw tables), or the run asks for a full
refresh. ``quality.rule_unit_state`` holds, per rule, what its last count saw.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import ClassVar

import duckdb

from expectations.contract import Entity
from expectations.contract import entity as contract_entity
from expectations.entity_dates import _DATES, _order_lookup, _raw
from expectations.rule_sql import _d, _lit
from expectations.rules import BATCH

COUNTS_TABLE = "quality.rule_units"
STATE_TABLE = "quality.rule_unit_state"
STRAYS_TABLE = "quality.rule_unit_strays"
COUNTS_DDL = (
    "create schema if not exists quality",
    f"""
    create table if not exists {COUNTS_TABLE} (
        suite varchar not null,
        check_name varchar not null,
        unit varchar not null,
        records bigint not null,
        offending bigint not null
    )
    """,
    f"""
    create table if not exists {STATE_TABLE} (
        suite varchar not null,
        check_name varchar not null,
        fingerprint varchar not null,
        as_of date not null,
        loaded_through timestamp,
        counted_at timestamp not null,
        units_counted bigint not null,
        reason varchar not null
    )
    """,
    f"""
    create table if not exists {STRAYS_TABLE} (
        suite varchar not null,
        check_name varchar not null,
        order_id varchar not null
    )
    """,
)
# Placeholder of the as-of date in the fingerprint: a new day is not a new rule.
_AS_OF = "date 'AS_OF'"


@dataclass(frozen=True)
class KeptCounts:
    """How a rule counts its units (months or delivery files), all or some of them.

    ``sql(units)`` returns ``(unit, records, offending)`` per unit: of every unit when
    ``units`` is None, else of the units that the SQL ``units`` (one column) returns.
    """

    suite: str
    # The rule whose counts these are. Its blocking variant, if it counts the same units
    # (the duplicate rule's), keeps them under the same name: each check brings them up
    # to date. One judged per delivery file keeps its own, under its check's name.
    check_name: str
    entity: Entity
    as_of: date
    sql: Callable[[str | None], str]
    # The rule's query counting every unit itself: what the rule's query over the kept
    # counts returns too.
    whole: str
    unit: ClassVar[str] = "unit"

    @property
    def fingerprint(self) -> str:
        text = self.sql(None).replace(BATCH, self.table).replace(_d(self.as_of), _AS_OF)
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def table(self) -> str:
        return _raw(self.entity.qualified_name)

    def kept(self) -> str:
        return (
            f"{COUNTS_TABLE} as kept\n        where kept.suite = {_lit(self.suite)} "
            f"and kept.check_name = {_lit(self.check_name)}"
        )

    def over_shares(self, unit: str, max_share: float, min_records: int, more: str = "") -> str:
        """SQL: ``unit`` of the kept units whose offending records pass the thresholds."""
        return (
            f"select {unit} from {self.kept()}\n"
            f"          and kept.offending > {float(max_share)!r} * kept.records"
            f" and kept.offending >= {int(min_records)}{more}"
        )

    def typed(self, units: str) -> str:
        """SQL: the units of the text column ``unit`` of ``units``, typed as the rule's."""
        return f"select unit from {units}"

    def changed(self, since: datetime, previous_as_of: date) -> str:
        """SQL: the units (a ``unit`` column) that rows loaded at or after ``since`` reach."""
        raise NotImplementedError

    def prepare(self, con: duckdb.DuckDBPyConnection, since: datetime | None) -> None:
        """Bring what the counting reads besides the raw tables up to date (or anew)."""


@dataclass(frozen=True)
class MonthlyCounts(KeptCounts):
    """The counts of a rule judged per calendar month: its records and offending ones.

    ``changes_with`` lists the lookups a record's verdict depends on, as ``(column,
    table, table's column)``: each is the set of the values in ``table``'s column, so a
    value new to it since the last count changes the verdict of the records whose
    ``column`` holds it, and nothing else does.
    """

    changes_with: tuple[tuple[str, str, str], ...] = ()
    unit: ClassVar[str] = "month"

    def typed(self, units: str) -> str:
        return f"select cast(unit as date) as month from {units}"

    def flagged(self, max_share: float, min_records: int) -> str:
        """SQL: the kept months over the rule's thresholds."""
        return self.over_shares("cast(kept.unit as date) as month", max_share, min_records)

    def changed(self, since: datetime, previous_as_of: date) -> str:
        return changed_months_sql(self, since, previous_as_of)

    def prepare(self, con: duckdb.DuckDBPyConnection, since: datetime | None) -> None:
        if self.entity.dated_by is not None:
            _refresh_strays(con, self, since)


@dataclass(frozen=True)
class FileCounts(KeptCounts):
    """The counts of a rule judged per delivery file, over the file's rows alone."""

    unit: ClassVar[str] = "delivery file"

    def flagged(self, max_share: float, min_records: int) -> str:
        """SQL: the kept files over the rule's thresholds, shares of the rows they loaded."""
        entity = self.entity
        return (
            f"select kept.unit as delivery_file from {self.kept()}\n"
            "          and kept.offending > "
            f"{float(max_share)!r} * (select files.rows_loaded from ingest.delivery_files as files"
            f" where files.system = {_lit(entity.system)} and files.entity = {_lit(entity.name)}"
            " and files.delivery_file = kept.unit)\n"
            f"          and kept.offending >= {int(min_records)}"
        )

    def changed(self, since: datetime, previous_as_of: date) -> str:
        return (
            f"select distinct _delivery_file as unit from {self.table} where {_loaded_since(since)}"
        )


@dataclass(frozen=True)
class DeliveryCounts(KeptCounts):
    """The counts of a record rule judged per delivery file (a blocking variant): the
    rows the file delivered that are dated up to the as-of date, and the offending ones.

    A file's rows never change, but what they count for can: order lines take their dates
    from their order, which a later delivery can correct; a lookup (``changes_with``, as
    in ``MonthlyCounts``) can gain the value a row lacked; a new as-of date lets rows in
    or out. A run counts again the files loaded since and the files holding such rows.
    """

    changes_with: tuple[tuple[str, str, str], ...] = ()
    unit: ClassVar[str] = "delivery file"

    def flagged(self, max_share: float, min_records: int, min_rows: int) -> str:
        """SQL: the kept files over the rule's thresholds, shares of the rows they count."""
        return self.over_shares(
            "kept.unit as delivery_file",
            max_share,
            min_records,
            f" and kept.records >= {int(min_rows)}",
        )

    def changed(self, since: datetime, previous_as_of: date) -> str:
        return changed_files_sql(self, since, previous_as_of)


def _month(day: str) -> str:
    return f"cast(date_trunc('month', {day}) as date)"


def strays(suite: str, check_name: str) -> str:
    """SQL: the orders named by the rule's order lines that were never delivered."""
    return (
        f"select order_id from {STRAYS_TABLE} "
        f"where suite = {_lit(suite)} and check_name = {_lit(check_name)}"
    )


def restricted_batch(entity: Entity, as_of: date, months: str, stray_orders: str) -> list[str]:
    """CTEs ``batch`` (and ``_order``): every row of the keys with a row in ``months``.

    A key's current row is one of its rows, so every record whose month is in
    ``months`` keeps all its rows here, and the deduplication picks the same one. Order
    lines take their month from their order: the lookup of their orders holds the
    orders with a row in ``months`` (every row of each), and the lines of orders never
    delivered (``stray_orders``, kept with the counts) count in the as-of month.
    """
    if entity.dated_by is not None:
        orders = _raw(entity.dated_by)
        in_months = f"{_month(f'coalesce(cast(ordered_at as date), {_d(as_of)})')} in ({months})"
        return [
            _order_lookup(
                f"(\n        select * from {orders}\n        where order_id in "
                f"(select order_id from {orders} where {in_months})\n    )"
            ),
            f"batch as (\n    select * from {BATCH}\n    where order_id in "
            f"(select order_id from _order where {in_months})\n    union all\n"
            f"    select * from {BATCH}\n    where order_id in ({stray_orders})"
            f" and {_month(_d(as_of))} in ({months})\n)",
        ]
    keys = ", ".join(entity.key)
    return [
        f"batch as (\n    select * from {BATCH}\n    where ({keys}) in (\n"
        f"        select {keys} from {BATCH}\n"
        f"        where {_month(_anchor_day(entity, as_of))} in ({months})\n    )\n)"
    ]


def delivery_batch(entity: Entity, files: str) -> list[str]:
    """CTEs ``batch`` (and ``_order``): the rows of the delivery files in ``files``.

    Order lines take their dates from their order: the lookup holds every row of the
    orders those lines name, so it finds what the lookup of every order finds.
    """
    batch = f"batch as (\n    select * from {BATCH}\n    where _delivery_file in ({files})\n)"
    if entity.dated_by is None:
        return [batch]
    orders = _raw(entity.dated_by)
    return [
        batch,
        _order_lookup(
            f"(\n        select * from {orders}\n"
            "        where order_id in (select order_id from batch)\n    )"
        ),
    ]


def _refresh_strays(
    con: duckdb.DuckDBPyConnection, counts: MonthlyCounts, since: datetime | None
) -> None:
    """Bring the rule's stray orders up to the raw tables (all of them when ``since`` is
    None): a line names a stray order if no row of that order was ever delivered, so
    the strays now are those of the last count and of the lines loaded since, less the
    orders delivered since."""
    orders, table = _raw(counts.entity.dated_by), counts.table
    if since is None:
        candidates = f"select order_id from {table}"
    else:
        candidates = (
            f"{strays(counts.suite, counts.check_name)} union "
            f"select order_id from {table} "
            f"where _loaded_at >= timestamp '{since.isoformat(sep=' ')}'"
        )
    con.execute(
        f"create or replace temp table _strays as select distinct order_id from ({candidates}) "
        f"where order_id is not null and order_id not in "
        f"(select order_id from {orders} where order_id is not null)"
    )
    key = [counts.suite, counts.check_name]
    con.execute(f"delete from {STRAYS_TABLE} where suite = ? and check_name = ?", key)
    con.execute(f"insert into {STRAYS_TABLE} select ?, ?, order_id from _strays", key)
    con.execute("drop table _strays")


def _anchor_day(entity: Entity, as_of: date) -> str:
    anchor = _DATES[entity.qualified_name][0]
    return f"coalesce(cast({anchor} as date), {_d(as_of)})" if anchor else _d(as_of)


def changed_months_sql(counts: MonthlyCounts, since: datetime, previous_as_of: date) -> str:
    """The months whose counts rows loaded at or after ``since`` can have changed.

    ``since`` is when the last count's rows were loaded: at least those rows count again
    (a superset costs time, never a wrong count).
    """
    entity, as_of = counts.entity, counts.as_of
    loaded = _loaded_since(since)

    table = counts.table
    if entity.dated_by is not None:
        # Order lines: their order's months, every version of it.
        orders = _raw(entity.dated_by)
        changed = [
            f"select order_id from {table} where {loaded}",
            f"select order_id from {orders} where {loaded}",
            *(
                f"select order_id from {table} where {column} in ({_new_values(*lookup, loaded)})"
                for column, *lookup in counts.changes_with
            ),
        ]
        versions = (
            f"select {_month(f'coalesce(cast(ordered_at as date), {_d(as_of)})')} as month "
            f"from {orders}\n    where order_id in (\n        "
            + "\n        union ".join(changed)
            + "\n    )"
        )
    else:
        keys = ", ".join(entity.key)
        changed = [
            f"select {keys} from {table} where {loaded}",
            *(
                f"select {keys} from {table} where {column} in ({_new_values(*lookup, loaded)})"
                for column, *lookup in counts.changes_with
            ),
        ]
        versions = (
            f"select {_month(_anchor_day(entity, as_of))} as month from {table}\n"
            f"    where ({keys}) in (\n        " + "\n        union ".join(changed) + "\n    )"
        )
    low, high = sorted((previous_as_of, as_of))
    span = (
        f"select cast(unnest(generate_series({_month(_d(low))}, {_month(_d(high))}, "
        "interval 1 month)) as date) as month"
    )
    return (
        f"select distinct cast(month as varchar) as unit from (\n    {versions}\n    union all\n"
        f"    {span}\n) where month is not null"
    )


def _loaded_since(since: datetime) -> str:
    return f"_loaded_at >= timestamp '{since.isoformat(sep=' ')}'"


def _new_values(lookup: str, ref: str, loaded: str) -> str:
    """SQL: the values of a lookup (the set of ``ref`` in ``lookup``) new since ``loaded``.

    The lookups are sets of values: only a value the table did not hold changes them.
    """
    return (
        f"select {ref} from {lookup} where {loaded} "
        f"except select {ref} from {lookup} where not ({loaded})"
    )


def changed_files_sql(counts: DeliveryCounts, since: datetime, previous_as_of: date) -> str:
    """The delivery files whose counts rows loaded at or after ``since`` can have changed:
    the files loaded since, and those with a row whose date (its order's, for order
    lines), lookup or place against the as-of date may have changed."""
    entity, table = counts.entity, counts.table
    loaded = _loaded_since(since)
    low, high = _d(min(previous_as_of, counts.as_of)), _d(max(previous_as_of, counts.as_of))
    reached = [loaded]
    if entity.dated_by is not None:
        # Order lines: any version of their order may be the one that dates them.
        orders = _raw(entity.dated_by)
        anchor = contract_entity(*entity.dated_by.split(".")).anchor
        reached += [
            f"order_id in (select order_id from {orders} where {loaded})",
            f"order_id in (select order_id from {orders}\n"
            f"        where cast({anchor} as date) > {low} and cast({anchor} as date) <= {high})",
        ]
    elif entity.anchor:
        anchor = f"cast({entity.anchor} as date)"
        reached.append(f"({anchor} > {low} and {anchor} <= {high})")
    reached += [
        f"{column} in ({_new_values(*lookup, loaded)})" for column, *lookup in counts.changes_with
    ]
    return f"select distinct _delivery_file as unit from {table}\nwhere " + "\n   or ".join(reached)


def ensure_counts_tables(con: duckdb.DuckDBPyConnection) -> None:
    for statement in COUNTS_DDL:
        con.execute(statement)


@dataclass(frozen=True)
class CountRun:
    suite: str
    check_name: str
    full: bool
    reason: str
    unit: str  # "month" or "delivery file"
    units: int  # units counted


def summary(runs: Sequence[CountRun]) -> str:
    """One line for the run's log: which rules counted what, and why in full."""
    partial = [r for r in runs if not r.full]
    parts = []
    if partial:
        counted = {}
        for run in partial:
            counted[run.unit] = counted.get(run.unit, 0) + run.units
        units = ", ".join(f"{n:,} {unit}{'' if n == 1 else 's'}" for unit, n in counted.items())
        parts.append(
            f"{len(partial)} counted again only the units their deliveries reach ({units})"
        )
    reasons: dict[str, list[str]] = {}
    for run in runs:
        if run.full:
            reasons.setdefault(run.reason, []).append(f"{run.suite} {run.check_name}")
    for reason, rules in reasons.items():
        parts.append(
            f"{len(rules)} counted every unit again, because {reason} ({', '.join(rules)})"
        )
    return f"Kept counts of {len(runs)} rules: " + "; ".join(parts) + "."


def _loaded_through(con: duckdb.DuckDBPyConnection) -> datetime | None:
    exists = con.execute(
        "select count(*) from duckdb_tables() "
        "where schema_name = 'ingest' and table_name = 'load_log'"
    ).fetchone()[0]
    if not exists:
        return None
    return con.execute("select max(logged_at) from ingest.load_log").fetchone()[0]


def _full_reason(
    con: duckdb.DuckDBPyConnection, counts: KeptCounts, state, full_refresh: bool
) -> str | None:
    if full_refresh:
        return "a full refresh was asked for"
    if state is None:
        return "the rule has no counts from an earlier run"
    fingerprint, _, loaded_through = state
    if fingerprint != counts.fingerprint:
        return "the rule's counting SQL changed"
    if loaded_through is None:
        return "no delivery was on record when it last counted"
    unloaded = con.execute(
        "select count(*) from ingest.load_log where action = 'unloaded' and logged_at > ?",
        [loaded_through],
    ).fetchone()[0]
    if unloaded:
        return "delivery files were removed or changed since its last count"
    return None


def refresh_counts(
    con: duckdb.DuckDBPyConnection, rules: Sequence, full_refresh: bool = False
) -> list[CountRun]:
    """Bring the kept counts of ``rules`` (those with ``counts``) up to the warehouse.

    One transaction: a run that stops half-way leaves the counts of the last run.
    """
    ensure_counts_tables(con)
    loaded_through = _loaded_through(con)
    runs = []
    con.execute("begin transaction")
    try:
        for rule in rules:
            counts: KeptCounts | None = rule.counts
            if counts is None:
                continue
            key = [counts.suite, counts.check_name]
            state = con.execute(
                f"select fingerprint, as_of, loaded_through from {STATE_TABLE} "
                "where suite = ? and check_name = ?",
                key,
            ).fetchone()
            reason = _full_reason(con, counts, state, full_refresh)
            counts.prepare(con, None if reason else state[2])
            if reason is None:
                changed = counts.changed(state[2], state[1])
                con.execute(f"create or replace temp table _units as {changed}")
                fresh = counts.sql(counts.typed("_units"))
                con.execute(
                    f"delete from {COUNTS_TABLE} where suite = ? and check_name = ? "
                    "and unit in (select unit from _units)",
                    key,
                )
            else:
                fresh = counts.sql(None)
                con.execute(f"delete from {COUNTS_TABLE} where suite = ? and check_name = ?", key)
            con.execute(
                f"insert into {COUNTS_TABLE} select ?, ?, cast(unit as varchar), records, "
                f"offending from ({fresh.replace(BATCH, counts.table)}) where records > 0",
                key,
            )
            counted = (
                con.execute("select count(*) from _units").fetchone()[0]
                if reason is None
                else con.execute(
                    f"select count(*) from {COUNTS_TABLE} where suite = ? and check_name = ?",
                    key,
                ).fetchone()[0]
            )
            con.execute(f"delete from {STATE_TABLE} where suite = ? and check_name = ?", key)
            con.execute(
                f"insert into {STATE_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    *key,
                    counts.fingerprint,
                    counts.as_of,
                    loaded_through,
                    datetime.now(timezone.utc).replace(tzinfo=None),
                    counted,
                    reason or "incremental",
                ],
            )
            runs.append(
                CountRun(
                    counts.suite,
                    counts.check_name,
                    reason is not None,
                    reason or "",
                    counts.unit,
                    counted,
                )  # fmt: skip
            )
        con.execute("drop table if exists _units")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return runs
