"""The rules of the KPI outputs: one suite on ``kpi.kpi_values``.

Values within the bounds of their unit or their own (``rate_within_bounds``,
``score_within_bounds``, ``value_within_bounds``), the calendar complete, values
present where their denominator is positive, and targets present where the plan sets
them. A KPI-output rule returns one row per affected **KPI period** (``kpi_id``,
``grain``, ``period_start``, ``records``, ``example``).
"""

from __future__ import annotations

from expectations.config import QualityConfig
from expectations.rule_sql import _batch_cte, _lit, _num, _with
from expectations.rules import KPI_VALUES_SUITE, KPI_VALUES_TABLE, MARKS_KPI_PERIODS, Rule


def _kpi_rule(kind: str, cfg: dict, *, description: str, summary: str, sql: str, reads) -> Rule:
    return Rule(
        suite=KPI_VALUES_SUITE,
        table=KPI_VALUES_TABLE,
        name=kind,
        kind=kind,
        severity=cfg["severity"],
        description=description,
        summary=summary,
        sql=sql,
        marks=MARKS_KPI_PERIODS,
        reads=reads,
    )


def _bound(value) -> float | None:
    return None if value is None else float(value)


def _bounds_rule(kind: str, unit: str | None, cfg: dict) -> Rule:
    """Values of ``unit`` within [min, max]; ``kpis:`` gives a KPI the bounds of its formula.

    Without a unit, the rule judges only the KPIs its ``kpis:`` map names.

    A bound of null is no bound. A ratio is judged where its denominator is positive:
    over no records it has no value, and a margin over a net-negative revenue (valid
    rows) lies on the other side of its bound.
    """
    lo, hi = _bound(cfg.get("min")), _bound(cfg.get("max"))
    per_kpi = {k: (b or {}) for k, b in (cfg.get("kpis") or {}).items()}

    def bound_sql(key: str, default: float | None) -> str:
        def literal(value: float | None) -> str:
            return "null" if value is None else _num(value)

        if not per_kpi:
            return literal(default)
        cases = " ".join(
            f"when {_lit(k)} then {literal(_bound(b.get(key, default)))}"
            for k, b in per_kpi.items()
        )
        return f"case v.kpi_id {cases} else {literal(default)} end"

    if unit is not None:
        which = f"definitions.unit = {_lit(unit)}"
    elif per_kpi:
        which = f"v.kpi_id in ({', '.join(map(_lit, per_kpi))})"
    else:
        which = "false"
    sql = f"""{_with(_batch_cte())},
definitions as (select kpi_id, unit from kpi.kpi_definitions where is_current),
bounded as (
    select v.*, {bound_sql("min", lo)} as _min, {bound_sql("max", hi)} as _max
    from batch as v
    join definitions on definitions.kpi_id = v.kpi_id
    where {which}
      and (v.denominator is null or v.denominator > 0)
)
select kpi_id, grain, period_start, count(*) as records,
       kpi_id || ' ' || grain || ' ' || period_start || ' '
           || min(dimension || '=' || dimension_value || ': ' || cast(value as varchar))
           as example
from bounded
where value < _min or value > _max
group by kpi_id, grain, period_start
order by 1, 2, 3"""

    def interval(a: float | None, b: float | None) -> str:
        return f"[{'-inf' if a is None else f'{a:g}'}, {'inf' if b is None else f'{b:g}'}]"

    own = ", ".join(
        f"{k} {interval(_bound(b.get('min', lo)), _bound(b.get('max', hi)))}"
        for k, b in per_kpi.items()
    )
    return _kpi_rule(
        kind,
        cfg,
        description=(
            (
                f"Every KPI value of unit '{unit}' lies within {interval(lo, hi)}"
                + (f" (own bounds: {own})" if own else "")
                if unit is not None
                else f"KPI values lie within their bounds ({own or 'none configured'})"
            )
            + ", judged where its denominator is positive; one unexpected row per KPI "
            "period with a value outside."
        ),
        summary=f"{{records}} KPI values{f' of unit {unit}' if unit else ''} out of bounds "
        "in {periods} (e.g. {example})",
        sql=sql,
        reads=("kpi.kpi_definitions",),
    )


def kpi_rules(config: QualityConfig) -> list[Rule]:
    """Every KPI-output rule the configuration turns on."""
    rules: list[Rule] = []
    cfg = config.kpi_rule("rate_within_bounds")
    if cfg:
        rules.append(_bounds_rule("rate_within_bounds", "ratio", cfg))
    cfg = config.kpi_rule("score_within_bounds")
    if cfg:
        rules.append(_bounds_rule("score_within_bounds", "score", cfg))
    cfg = config.kpi_rule("value_within_bounds")
    if cfg:
        rules.append(_bounds_rule("value_within_bounds", None, cfg))
    cfg = config.kpi_rule("calendar_complete")
    if cfg:
        rules.append(
            _kpi_rule(
                "calendar_complete",
                cfg,
                description=(
                    "Every current KPI has its dimension 'all' row in every period of every "
                    "grain of the calendar; one unexpected row per missing period."
                ),
                summary="{periods} have no dimension 'all' row (e.g. {example})",
                sql=f"""{_with(_batch_cte())},
definitions as (select kpi_id from kpi.kpi_definitions where is_current),
present as (select distinct kpi_id, grain, period_start from batch where dimension = 'all')
select definitions.kpi_id, calendar.grain, calendar.period_start, 1 as records,
       definitions.kpi_id || ' ' || calendar.grain || ' ' || calendar.period_start as example
from definitions
cross join marts.dim_calendar as calendar
left join present
    on present.kpi_id = definitions.kpi_id
    and present.grain = calendar.grain
    and present.period_start = calendar.period_start
where present.kpi_id is null
order by 1, 2, 3""",
                reads=("kpi.kpi_definitions", "marts.dim_calendar"),
            )
        )
    cfg = config.kpi_rule("value_present")
    if cfg:
        rules.append(
            _kpi_rule(
                "value_present",
                cfg,
                description=(
                    "A KPI value is present wherever its denominator is positive; one "
                    "unexpected row per KPI period with a null value."
                ),
                summary="{records} KPI values are null although their denominator is "
                "positive, in {periods} (e.g. {example})",
                sql=f"""{_with(_batch_cte())}
select kpi_id, grain, period_start, count(*) as records,
       kpi_id || ' ' || grain || ' ' || period_start || ' '
           || min(dimension || '=' || dimension_value) as example
from batch
where value is null and denominator > 0
group by kpi_id, grain, period_start
order by 1, 2, 3""",
                reads=(),
            )
        )
    cfg = config.kpi_rule("target_present")
    if cfg:
        rules.append(
            _kpi_rule(
                "target_present",
                cfg,
                description=(
                    "Revenue has a target in every month, quarter and year (and region) "
                    "that the sales plan covers, and every service slice of "
                    "service_availability its catalog target; one unexpected row per KPI "
                    "period without one."
                ),
                summary="{records} KPI values lack the target their plan sets, in "
                "{periods} (e.g. {example})",
                sql=f"""{_with(_batch_cte())},
plan as (select target_month, region from staging.stg_sales__sales_targets),
calendar as (select * from marts.dim_calendar where grain in ('month', 'quarter', 'year')),
expected as (
    select distinct 'revenue' as kpi_id, calendar.grain, calendar.period_start,
           'all' as dimension, 'all' as dimension_value
    from calendar
    join plan on plan.target_month >= calendar.period_start
        and plan.target_month < calendar.period_end
    union
    select distinct 'revenue', calendar.grain, calendar.period_start, 'region', plan.region
    from calendar
    join plan on plan.target_month >= calendar.period_start
        and plan.target_month < calendar.period_end
    union
    select distinct 'service_availability', calendar.grain, calendar.period_start,
           'service', services.service_id
    from marts.dim_calendar as calendar
    cross join staging.stg_ops__services as services
)
select expected.kpi_id, expected.grain, expected.period_start, count(*) as records,
       expected.kpi_id || ' ' || expected.grain || ' ' || expected.period_start || ' '
           || min(expected.dimension || '=' || expected.dimension_value) as example
from expected
join batch as v
    on v.kpi_id = expected.kpi_id
    and v.grain = expected.grain
    and v.period_start = expected.period_start
    and v.dimension = expected.dimension
    and v.dimension_value = expected.dimension_value
where v.target is null
group by expected.kpi_id, expected.grain, expected.period_start
order by 1, 2, 3""",
                reads=(
                    "staging.stg_sales__sales_targets",
                    "staging.stg_ops__services",
                    "marts.dim_calendar",
                ),
            )
        )
    return rules
