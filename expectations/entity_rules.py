"""The rules of the landing entities: one suite per entity, on its raw table.

Freshness, volume, the quarantined share of a delivery, duplicate rows within a
delivery, orphan keys and currencies without an fx rate, and the order-line rules
(discounts larger than the line, outlying prices); each rule may have a blocking
variant (``<rule>_blocking``) past the thresholds of its ``block:`` map.

An entity rule returns one row per affected **day** (``day``, ``records``,
``example``): the dates of the offending records (see ``entity_dates.py``). Records
without any date (a product, a service) stand for the as-of date: the latest periods.
Record shares are judged per calendar month of the anchor dates (or per delivery), so
a bad month is caught even in a long history and the months around it stay unmarked.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from expectations.config import QualityConfig
from expectations.contract import ENTITIES, Entity
from expectations.entity_dates import (
    _DATES,
    _FRESHNESS_ENTITIES,
    _VOLUME_ENTITIES,
    _current_rows,
    _date_columns,
    _dated,
    _days_of,
    _home,
    _key_text,
    _lookups,
    _raw,
)
from expectations.kept_counts import (
    COUNTS_TABLE,
    DeliveryCounts,
    FileCounts,
    MonthlyCounts,
    delivery_batch,
    restricted_batch,
    strays,
)
from expectations.rule_sql import _batch_cte, _d, _lit, _num, _with
from expectations.rules import BATCH, BLOCKING_SUFFIX, Rule, TimeFrame


def _freshness(entity: Entity, cfg: dict, tf: TimeFrame) -> Rule:
    anchor = _DATES[entity.qualified_name][0]
    max_lag = int(cfg["max_lag_days"])
    sql = f"""{_with(_batch_cte())},
latest as (
    select max(cast({anchor} as date)) as latest_day
    from batch
    where cast({anchor} as date) <= {_d(tf.as_of)}
),
missing as (
    select cast(unnest(generate_series(
               coalesce(latest_day + 1, {_d(tf.first_day)}), {_d(tf.as_of)}, interval 1 day
           )) as date) as day,
           coalesce('latest {anchor} ' || strftime(latest_day, '%Y-%m-%d'), 'no {anchor} at all')
               || ', as of {tf.as_of.isoformat()}' as example
    from latest
    where latest_day is null or {_d(tf.as_of)} - latest_day > {max_lag}
)
select day, 0 as records, example from missing order by day"""
    return Rule(
        suite=entity.qualified_name,
        table=f"raw_{entity.system}.{entity.name}",
        name="freshness",
        kind="freshness",
        severity=cfg["severity"],
        description=(
            f"The newest {anchor} of {entity.qualified_name} is at most {max_lag} days "
            # The run's date, not this frame's: the check's description is built once,
            # when the code location loads, before any run has an as-of date.
            "before the run's as-of date (KPI_AS_OF, else the latest day loaded); one "
            "unexpected row per day without data."
        ),
        summary=f"{entity.qualified_name} has no data for {{days}} ({{example}})",
        sql=sql,
    )


def _volume(entity: Entity, cfg: dict, tf: TimeFrame) -> Rule:
    anchor = _DATES[entity.qualified_name][0]
    recent = int(cfg["recent_days"])
    weeks = int(cfg["reference_weeks"])
    lo, hi = _num(cfg["min_ratio"]), _num(cfg["max_ratio"])
    min_ref = _num(cfg["min_reference_rows"])
    # Records, not deliveries of them: a key re-delivered on a later day counts once.
    key = entity.key
    distinct = key[0] if len(key) == 1 else "(" + ", ".join(key) + ")"
    # Only the recent days and the weeks before them are judged: the days counted are
    # those, not every day of the history.
    span = recent - 1 + 7 * weeks
    sql = f"""{_with(_batch_cte())},
latest as (
    select max(cast({anchor} as date)) as latest_day
    from batch
    where cast({anchor} as date) <= {_d(tf.as_of)}
),
counts as (
    select cast({anchor} as date) as day, count(distinct {distinct}) as n
    from batch
    where cast({anchor} as date) <= {_d(tf.as_of)}
      and cast({anchor} as date) >= (select latest_day - {span} from latest)
    group by 1
),
recent as (
    select cast(unnest(generate_series(latest_day - {recent - 1}, latest_day, interval 1 day))
                as date) as day
    from latest
),
reference as (
    select recent.day, median(coalesce(counts.n, 0)) as expected
    from recent
    cross join range(1, {weeks + 1}) as w(k)
    left join counts on counts.day = recent.day - cast(7 * w.k as integer)
    group by recent.day
)
select reference.day, coalesce(counts.n, 0) as records,
       coalesce(counts.n, 0) || ' rows against a median of ' || reference.expected
           || ' on the same weekday before' as example
from reference
left join counts on counts.day = reference.day
where reference.expected >= {min_ref}
  and (coalesce(counts.n, 0) < {lo} * reference.expected
       or coalesce(counts.n, 0) > {hi} * reference.expected)
order by reference.day"""
    return Rule(
        suite=entity.qualified_name,
        table=f"raw_{entity.system}.{entity.name}",
        name="volume",
        kind="volume",
        severity=cfg["severity"],
        description=(
            f"On each of the last {recent} days, the {entity.qualified_name} records "
            f"anchored that day ({anchor}) number between {cfg['min_ratio']} and "
            f"{cfg['max_ratio']} times the median of the same weekday in the {weeks} weeks "
            f"before (judged where that median is at least {cfg['min_reference_rows']})."
        ),
        summary=(f"{entity.qualified_name} volume is off on {{days}} (e.g. {{example}})"),
        sql=sql,
    )


def _quarantined_share(entity: Entity, cfg: dict, tf: TimeFrame) -> Rule:
    max_share, min_rows = float(cfg["max_share"]), int(cfg["min_rows"])
    flagged = f"""flagged as (
    select delivery_file, rows_delivered, rows_quarantined
    from ingest.delivery_files
    where system = {_lit(entity.system)} and entity = {_lit(entity.name)}
      and rows_delivered >= {min_rows}
      and rows_quarantined > {_num(max_share)} * rows_delivered
)"""
    # Only the rows of the flagged deliveries are dated (and their orders looked up):
    # the rest of the history cannot mark a day.
    rows = delivery_batch(entity, "select delivery_file from flagged")
    sql = f"""{_with(flagged, *rows, _dated(entity, "batch"))},
delivery_days as (
    select distinct * from (
        select flagged.delivery_file, flagged.rows_delivered, flagged.rows_quarantined,
               {_days_of(entity, tf, "dated")} as day
        from flagged
        left join dated on dated._delivery_file = flagged.delivery_file
    )
),
numbered as (
    select *, row_number() over (partition by delivery_file order by day) as _nth
    from delivery_days
)
select day,
       sum(case when _nth = 1 then rows_quarantined else 0 end) as records,
       min(delivery_file || ': ' || rows_quarantined || ' of ' || rows_delivered
           || ' rows invalid') as example
from numbered
group by day
order by day"""
    return Rule(
        suite=entity.qualified_name,
        table=f"raw_{entity.system}.{entity.name}",
        name="quarantined_share",
        kind="quarantined_share",
        severity=cfg["severity"],
        description=(
            f"No {entity.qualified_name} delivery of at least {min_rows} rows has more "
            f"than {max_share:.0%} of them quarantined; one unexpected row per day the "
            "delivery covers (the rows and their reasons are in ingest.quarantine)."
        ),
        summary=(
            f"{{records}} invalid rows in {entity.qualified_name} deliveries with more than "
            f"{max_share:.0%} of them invalid (e.g. {{example}}); the rows and their reasons "
            "are in ingest.quarantine"
        ),
        sql=sql,
        reads=("ingest.delivery_files",),
    )


def _duplicate_keys(entity: Entity, cfg: dict, tf: TimeFrame) -> Rule:
    max_share, min_records = float(cfg["max_share"]), int(cfg["min_records"])
    # A record and its correction may share a file (the later row wins); the same row
    # twice is an export that repeated itself.
    keys = ", ".join(entity.key)
    # Only keys repeated within a file are hashed whole: the rest cannot be copies.
    content = "hash(" + ", ".join(f"batch.{c.name}" for c in entity.columns) + ")"
    batch_keys = ", ".join(f"batch.{k}" for k in entity.key)
    repeated_join = " and ".join(f"repeated.{k} = batch.{k}" for k in entity.key)
    key_join = " and ".join(f"copies.{k} = dated.{k}" for k in entity.key)
    key_join += (
        f" and copies._content = hash({', '.join('dated.' + c.name for c in entity.columns)})"
    )

    def counted(files: str | None) -> str:
        """The CTEs up to the repeated rows; only those of the files in ``files`` if given."""
        batch = (
            _batch_cte()
            if files is None
            else f"batch as (\n    select * from {BATCH}\n    where _delivery_file in ({files})\n)"
        )
        return f"""{_with(*_lookups(entity), batch, _dated(entity, "batch"))},
repeated as (
    select _delivery_file, {keys}
    from batch
    group by all
    having count(*) > 1
),
copies as (
    select batch._delivery_file, {batch_keys}, {content} as _content
    from batch
    join repeated on repeated._delivery_file = batch._delivery_file and {repeated_join}
    group by all
    having count(*) > 1
),
duplicated as (
    select dated.*
    from dated
    join copies on copies._delivery_file = dated._delivery_file and {key_join}
)"""

    def marks(files: str | None) -> str:
        return f"""{counted(files)},
flagged as (
    select files.delivery_file
    from ingest.delivery_files as files
    join (select _delivery_file, count(*) as n from duplicated group by 1) as counted
        on counted._delivery_file = files.delivery_file
    where files.system = {_lit(entity.system)} and files.entity = {_lit(entity.name)}
      and counted.n > {_num(max_share)} * files.rows_loaded
      and counted.n >= {min_records}
),
duplicate_days as (
    select _delivery_file, {_key_text(entity)} as _key, {_days_of(entity, tf)} as day,
           {_home(tf)} as _home
    from duplicated
    where _delivery_file in (select delivery_file from flagged)
)
select day, count(*) filter (where day = _home) as records,
       min(_delivery_file || ': ' || _key) as example
from duplicate_days
group by day
order by day"""

    # A file's rows never change: its count is kept, and only the files over the
    # thresholds are read again for the days they mark.
    counts = FileCounts(
        suite=entity.qualified_name,
        check_name="duplicate_keys",
        entity=entity,
        as_of=tf.as_of,
        sql=lambda files: (
            f"""{counted(files)}
select rows._delivery_file as unit, rows.records, coalesce(copied.offending, 0) as offending
from (select _delivery_file, count(*) as records from batch group by 1) as rows
left join (select _delivery_file, count(*) as offending from duplicated group by 1) as copied
    on copied._delivery_file = rows._delivery_file"""
        ),
        whole=marks(None),
    )
    sql = marks(counts.flagged(max_share, min_records))
    return Rule(
        suite=entity.qualified_name,
        table=f"raw_{entity.system}.{entity.name}",
        name="duplicate_keys",
        kind="duplicate_keys",
        severity=cfg["severity"],
        description=(
            f"Within one {entity.qualified_name} delivery, no row repeats another one "
            f"(same {keys} and the same values): at most {max_share:.0%} of a delivery's "
            "rows do."
        ),
        summary=(
            f"{{records}} {entity.qualified_name} rows repeat a record within their "
            "delivery (e.g. {example})"
        ),
        sql=sql,
        reads=("ingest.delivery_files", COUNTS_TABLE),
        counts=counts,
    )


def _monthly_share_rule(
    entity: Entity,
    cfg: dict,
    tf: TimeFrame,
    *,
    name: str,
    kind: str,
    condition: str,
    joins: str = "",
    ctes: tuple[str, ...] = (),
    description: str,
    noun: str,
    reads: tuple[str, ...] = (),
    changes_with: tuple[tuple[str, str, str], ...] = (),
) -> Rule:
    """A rule on single records, judged per calendar month of their anchor dates.

    Each month's counts are kept between runs (``kept_counts.py``): a run counts
    again the months its deliveries can have changed, and the rule reads the months over
    its thresholds from the kept counts. ``changes_with`` names the lookups in
    ``condition`` (see ``MonthlyCounts``).

    Its blocking variant (``cfg["per"] == "delivery"``) is judged per delivery file
    instead, on every row the file delivered, like the contract's broken export: a
    delivery of at least ``min_rows`` rows with more than ``max_share`` of them
    offending. It keeps each file's counts the same way (``DeliveryCounts``).
    """
    max_share, min_records = float(cfg["max_share"]), int(cfg["min_records"])
    per_delivery = cfg.get("per") == "delivery"
    as_of = _d(tf.as_of)
    if per_delivery:
        min_rows = int(cfg.get("min_rows", 0))
        source, group = "batch", "r._delivery_file"
        size = f" and _records >= {min_rows}"
        key = "_unit || ': ' || _offending || ' of ' || _records || ' rows, e.g. ' || _key"
    else:
        source = "current_rows"
        group = f"cast(date_trunc('month', coalesce(r._anchor, {as_of})) as date)"
        size = ""
        key = "_key"

    def counted(months: str | None) -> str:
        """The CTEs up to each unit's counts; only the units in ``months`` if given."""
        if months is None:
            first = [*_lookups(entity), _batch_cte()]
        elif per_delivery:
            first = delivery_batch(entity, months)
        else:
            first = restricted_batch(entity, tf.as_of, months, strays(entity.qualified_name, name))
        only = "" if months is None else f"\n    where _unit in ({months})"
        return f"""{
            _with(
                *first,
                *([] if per_delivery else [_current_rows(entity)]),
                _dated(entity, source),
                *ctes,
            )
        },
checked as (
    select {", ".join("r." + c for c in (*_date_columns(entity), *entity.key))},
           {group} as _unit,
           coalesce(({condition}), false) as _offends
    from dated as r{joins}
    where r._anchor is null or r._anchor <= {as_of}
),
units as (
    select _unit, count(*) as _records, count(*) filter (where _offends) as _offending
    from checked{only}
    group by 1
)"""

    def marks(months: str | None) -> str:
        return f"""{counted(months)},
flagged as (
    select * from units
    where _offending > {_num(max_share)} * _records and _offending >= {min_records}{size}
),
offending_days as (
    select {_key_text(entity, "checked")} as _key, flagged._unit, flagged._records,
           flagged._offending, {_days_of(entity, tf, "checked")} as day,
           coalesce(checked._anchor, {as_of}) as _home
    from checked
    join flagged on flagged._unit = checked._unit
    where checked._offends
)
select day, count(*) filter (where day = _home) as records, min({key}) as example
from offending_days
group by day
order by day"""

    counts = None
    # A rule whose CTEs read across all of history (the price medians) cannot be
    # counted unit by unit, nor one whose lookups are not declared.
    if not ctes and (changes_with or not joins):
        kept = dict(
            suite=entity.qualified_name,
            entity=entity,
            as_of=tf.as_of,
            sql=lambda units: (
                f"{counted(units)}\n"
                "select _unit as unit, _records as records, _offending as offending from units"
            ),
            changes_with=changes_with,
            whole=marks(None),
        )
        if per_delivery:
            # Other units than the rule's per month: counts of their own, under the name
            # of the blocking check (the only rule judged per delivery).
            counts = DeliveryCounts(check_name=f"{name}{BLOCKING_SUFFIX}", **kept)
            flagged = counts.flagged(max_share, min_records, min_rows)
        else:
            counts = MonthlyCounts(check_name=name, **kept)
            flagged = counts.flagged(max_share, min_records)
    sql = marks(None if counts is None else flagged)
    share = "none" if max_share == 0 else f"at most {max_share:.1%}"
    if per_delivery:
        judged = (
            f"In any delivery file of at least {min_rows} rows, {share} of the "
            f"{entity.qualified_name} rows it delivers are {noun}"
        )
    else:
        judged = (
            f"In any calendar month, {share} of the month's {entity.qualified_name} "
            f"records are {noun}"
        )
    return Rule(
        suite=entity.qualified_name,
        table=f"raw_{entity.system}.{entity.name}",
        name=name,
        kind=kind,
        severity=cfg["severity"],
        description=(f"{description} {judged}; one unexpected row per day with such records."),
        summary=f"{{records}} {noun} on {{days}} (e.g. {{example}})",
        sql=sql,
        reads=(*reads, *((COUNTS_TABLE,) if counts else ())),
        counts=counts,
    )


# What an orphan is, per entity and foreign key (the keys are the contract's).
_ORPHAN_NOUNS = {
    ("sales.orders", "account_id"): "orders of unknown accounts",
    ("crm.opportunities", "account_id"): "opportunities of unknown accounts",
    ("sales.order_lines", "product_id"): "order lines of unknown products",
    ("ops.incidents", "service_id"): "incidents of services outside the catalog",
    ("ops.shipments", "order_id"): "shipments of unknown orders",
    ("ops.attendance", "employee_id"): "attendance rows of unknown employees",
}
# (entity, foreign key, parent entity, parent key, what an orphan is)
_FOREIGN_KEYS = tuple(
    (
        e.qualified_name,
        fk.column,
        fk.parent,
        fk.parent_column,
        _ORPHAN_NOUNS[(e.qualified_name, fk.column)],
    )
    for e in ENTITIES
    for fk in e.foreign_keys
)
# Entities whose amounts are converted to US dollars: (entity, what an orphan is).
_CURRENCIES = (
    ("sales.orders", "orders in a currency without any fx rate"),
    ("crm.marketing_spend", "marketing spend rows in a currency without any fx rate"),
)


def _orphan_rules(entity: Entity, config: QualityConfig, tf: TimeFrame) -> list[Rule]:
    rules = []
    cfg = config.entity_rule("orphan_keys", entity.qualified_name)
    for child, fk, parent, pk, noun in _FOREIGN_KEYS:
        if child != entity.qualified_name or cfg is None:
            continue
        rules += _with_blocking(
            cfg,
            lambda c, fk=fk, parent=parent, pk=pk, noun=noun: _monthly_share_rule(
                entity,
                c,
                tf,
                name=f"orphan_{fk}",
                kind="orphan_keys",
                condition=f"r.{fk} is not null and _parent._ref is null",
                joins=(
                    f"\n    left join (select distinct {pk} as _ref from {_raw(parent)}) "
                    f"as _parent on _parent._ref = r.{fk}"
                ),
                description=f"Every {fk} of {entity.qualified_name} is a {pk} of {parent}.",
                noun=noun,
                reads=(_raw(parent),),
                changes_with=((fk, _raw(parent), pk),),
            ),
        )
    cfg = config.entity_rule("currency_without_fx_rate", entity.qualified_name)
    for child, noun in _CURRENCIES:
        if child != entity.qualified_name or cfg is None:
            continue
        rules += _with_blocking(
            cfg,
            lambda c, noun=noun: _monthly_share_rule(
                entity,
                c,
                tf,
                name="currency_without_fx_rate",
                kind="currency_without_fx_rate",
                condition="r.currency <> 'USD' and _fx._ref is null",
                joins=(
                    "\n    left join (select distinct currency as _ref from raw_sales.fx_rates)"
                    " as _fx on _fx._ref = r.currency"
                ),
                description=(
                    f"Every currency of {entity.qualified_name} other than USD has an fx "
                    "rate (records without one are left out of the KPIs that need the "
                    "amount)."
                ),
                noun=noun,
                reads=("raw_sales.fx_rates",),
                changes_with=(("currency", "raw_sales.fx_rates", "currency"),),
            ),
        )
    return rules


def _order_line_rules(entity: Entity, config: QualityConfig, tf: TimeFrame) -> list[Rule]:
    if entity.qualified_name != "sales.order_lines":
        return []
    rules = []
    cfg = config.entity_rule("discount_exceeds_line_amount", entity.qualified_name)
    rules += _with_blocking(
        cfg,
        lambda c: _monthly_share_rule(
            entity,
            c,
            tf,
            name="discount_exceeds_line_amount",
            kind="discount_exceeds_line_amount",
            condition="coalesce(r.discount_amount, 0) > r.quantity * r.unit_price",
            description=(
                "An order line's discount is at most its amount (quantity x price): a "
                "larger one is valid, counts in revenue as a negative net line and makes "
                "the periods it falls in provisional."
            ),
            noun="order lines with a discount larger than the line amount",
            reads=("raw_sales.orders",),
        ),
    )
    cfg = config.entity_rule("price_outlier", entity.qualified_name)
    if cfg is not None:
        factor = float(cfg["factor"])
        min_history = int(cfg.get("min_history", 10))
        rules += _with_blocking(
            cfg,
            lambda c: _monthly_share_rule(
                entity,
                c,
                tf,
                name="price_outlier",
                kind="price_outlier",
                # A line of an unknown order has no currency to compare its price in, one
                # of an unknown product no history (orphan_product_id reports those).
                ctes=(
                    "_price as (\n    select product_id, _currency, median(unit_price) as _median"
                    "\n    from dated\n    where _currency is not null"
                    "\n      and product_id in (select product_id from raw_sales.products)"
                    f"\n    group by all\n    having count(*) >= {min_history}\n)",
                ),
                joins=(
                    "\n    left join _price on _price.product_id = r.product_id"
                    " and _price._currency = r._currency"
                ),
                condition=(
                    f"_price._median > 0 and (r.unit_price > {_num(factor)} * _price._median "
                    f"or r.unit_price < _price._median / {_num(factor)})"
                ),
                description=(
                    f"An order line's unit price is within {factor:g} times of the median "
                    "price of the same catalog product in the same currency (judged where "
                    f"that product has at least {min_history} lines in the currency)."
                ),
                noun=f"order lines priced more than {factor:g} times off their product's median",
                reads=("raw_sales.orders", "raw_sales.products"),
            ),
        )
    return rules


def _blocking_config(cfg: dict) -> dict | None:
    """The settings of a rule's blocking variant: its ``block:`` thresholds, if any.

    A rule about valid but odd rows warns; past the thresholds of its ``block:`` map a
    second check of the same rule, named ``<rule>_blocking`` and of severity error,
    fails the run. Record-share rules judge that variant per delivery file.
    """
    block = cfg.get("block")
    if not block or cfg["severity"] == "error":
        return None
    return {**cfg, "min_rows": 0, **block, "severity": "error", "per": "delivery"}


def _as_blocking(rule: Rule) -> Rule:
    return replace(
        rule,
        name=f"{rule.name}{BLOCKING_SUFFIX}",
        summary=rule.summary + ", past the threshold that blocks publishing",
    )


def _with_blocking(cfg: dict | None, build) -> list[Rule]:
    """``build(cfg)``, and its blocking variant where ``cfg`` has a ``block:`` map."""
    if cfg is None:
        return []
    rules = [build(cfg)]
    blocking = _blocking_config(cfg)
    if blocking is not None:
        rules.append(_as_blocking(build(blocking)))
    return rules


def entity_rules(config: QualityConfig, tf: TimeFrame) -> list[Rule]:
    """Every entity rule the configuration turns on, suite by suite."""
    rules: list[Rule] = []
    for entity in ENTITIES:
        name = entity.qualified_name
        if name in _FRESHNESS_ENTITIES:
            rules += _with_blocking(
                config.entity_rule("freshness", name), partial(_freshness, entity, tf=tf)
            )
        if name in _VOLUME_ENTITIES:
            rules += _with_blocking(
                config.entity_rule("volume", name), partial(_volume, entity, tf=tf)
            )
        rules += _with_blocking(
            config.entity_rule("quarantined_share", name),
            partial(_quarantined_share, entity, tf=tf),
        )
        rules += _with_blocking(
            config.entity_rule("duplicate_keys", name), partial(_duplicate_keys, entity, tf=tf)
        )
        rules += _orphan_rules(entity, config, tf)
        rules += _order_line_rules(entity, config, tf)
    return rules
