"""How a landing record is dated, in SQL: the dates that place it in KPI periods.

Each entity has an anchor date (the date that places a record in a KPI period, e.g.
``orders.ordered_at``) and later event dates that KPIs count it at (``fulfilled_at``,
``resolved_at``, …); order lines take theirs from their order. The entity rules
(``entity_rules.py``) build their queries from the CTEs and expressions here: the
current rows of an entity, its rows with their dates, and the days a record marks.

``time_frame`` reads the span those rules judge off the warehouse: the as-of date and
the first anchor date.
"""

from __future__ import annotations

from datetime import date

from expectations.contract import ENTITIES, Entity
from expectations.contract import entity as contract_entity
from expectations.rule_sql import _d
from expectations.rules import TimeFrame


# The anchor of each entity and the later event dates that KPIs count a record at, as
# the contract states them; an entity its parent's dates place (order lines) reads them
# through the lookup of its parent (``_order``, below).
def _dates(entity: Entity) -> tuple[str | None, tuple[str, ...]]:
    if entity.dated_by is None:
        return entity.anchor, entity.events
    parent = contract_entity(*entity.dated_by.split("."))
    return f"_order.{parent.anchor}", tuple(f"_order.{e}" for e in parent.events)


_DATES: dict[str, tuple[str | None, tuple[str, ...]]] = {
    e.qualified_name: _dates(e) for e in ENTITIES
}
# Entities whose anchor arrives every day: the catalog's anchors, and the fx feed.
_VOLUME_ENTITIES = (
    "crm.accounts",
    "crm.leads",
    "crm.opportunities",
    "crm.tickets",
    "crm.marketing_spend",
    "sales.orders",
    "ops.shipments",
    "ops.production_runs",
    "ops.incidents",
    "ops.attendance",
)
_FRESHNESS_ENTITIES = (*_VOLUME_ENTITIES, "sales.fx_rates")


def _order_lookup(orders: str = "raw_sales.orders") -> str:
    """Order lines carry no date of their own: their order's dates and currency place
    them. ``orders`` may be a subquery of some orders' rows (every row of each)."""
    return f"""_order as (
    select order_id,
           arg_max(ordered_at, updated_at) as ordered_at,
           arg_max(fulfilled_at, updated_at) as fulfilled_at,
           arg_max(currency, updated_at) as currency
    from {orders}
    group by order_id
)"""


def _key_text(entity: Entity, alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return "concat_ws('/', " + ", ".join(f"{prefix}{k}" for k in entity.key) + ")"


def _current_rows(entity: Entity) -> str:
    """The contract's deduplication: one row per key, the one staging keeps."""
    order = ["_delivery_file desc", "_file_row desc"]
    if entity.has_updated_at:
        order.insert(0, "updated_at desc nulls last")
    return (
        "current_rows as (\n    select * from batch\n    qualify row_number() over ("
        f"partition by {', '.join(entity.key)} order by {', '.join(order)}) = 1\n)"
    )


def _lookups(entity: Entity) -> list[str]:
    return [_order_lookup()] if entity.qualified_name == "sales.order_lines" else []


def _dated(entity: Entity, source: str) -> str:
    """CTE ``dated``: ``source`` rows with their ``_anchor`` and ``_event_<n>`` dates."""
    anchor, events = _DATES[entity.qualified_name]
    join = ""
    extra = ""
    if entity.qualified_name == "sales.order_lines":
        join = "\n    left join _order on _order.order_id = r.order_id"
        extra = ",\n           _order.currency as _currency"

    def col(c: str) -> str:
        return c if "." in c else f"r.{c}"

    dates = f"cast({col(anchor)} as date)" if anchor else "cast(null as date)"
    dates += " as _anchor"
    for i, event in enumerate(events, 1):
        dates += f",\n           cast({col(event)} as date) as _event_{i}"
    return (
        f"dated as (\n    select r.*,\n           {dates}{extra}\n    from {source} as r{join}\n)"
    )


def _date_columns(entity: Entity) -> list[str]:
    return ["_anchor"] + [
        f"_event_{i}" for i in range(1, len(_DATES[entity.qualified_name][1]) + 1)
    ]


def _days_of(entity: Entity, tf: TimeFrame, alias: str = "") -> str:
    """One row per day a record marks: its dates up to the as-of date.

    A record without any (a reference row, or one whose dates are all missing) stands
    for the as-of date: the latest periods. Built only for offending records.
    """
    prefix = f"{alias}." if alias else ""
    as_of = _d(tf.as_of)
    days = ", ".join(prefix + c for c in _date_columns(entity))
    listed = f"list_filter([{days}], lambda d: d is not null and d <= {as_of})"
    return f"unnest(case when len({listed}) = 0 then [{as_of}] else {listed} end)"


def _home(tf: TimeFrame) -> str:
    """The one day a record is counted on (its anchor), however many days it marks."""
    return f"coalesce(_anchor, {_d(tf.as_of)})"


def _raw(qualified: str) -> str:
    system, name = qualified.split(".")
    return f"raw_{system}.{name}"


def time_frame(con, as_of: str | None = None) -> TimeFrame:
    """The as-of date (the run's, or the latest anchor date) and the first anchor date.

    ``con`` is a DuckDB connection to the warehouse; the raw tables stand in for the
    staging models, which dbt has not built yet when the entity suites run.
    """
    anchors = " union all ".join(
        f"select cast({_DATES[name][0]} as date) as day from {_raw(name)}"
        for name in _VOLUME_ENTITIES
    )
    limit = f"where day <= {_d(date.fromisoformat(as_of))}" if as_of else ""
    latest, first = con.execute(
        f"select max(day), min(day) from ({anchors}) as anchors {limit}"
    ).fetchone()
    as_of_day = date.fromisoformat(as_of) if as_of else (latest or date.today())
    return TimeFrame(as_of=as_of_day, first_day=first or as_of_day)
