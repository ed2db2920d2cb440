{#- The staging layer and the order facts are incremental by key: a daily run rebuilds
    only the keys its deliveries can have changed, so each table equals a full build. The
    run falls back to a full build (dbt --full-refresh) whenever a raw row may have gone
    away: see orchestration/kpis/build_mode.py.

    None of these macros changes what a model computes, only how much of it is
    recomputed, so the KPI fingerprints (orchestration/kpis/fingerprints.py) leave their
    calls out. -#}

{#- `incremental` where the adapter can delete+insert by key; a full table elsewhere. -#}
{% macro incremental_by_key() -%}
    {{ return(adapter.dispatch('incremental_by_key', 'kpi_warehouse')()) }}
{%- endmacro %}

{% macro default__incremental_by_key() -%}
    {{ return('incremental') }}
{%- endmacro %}

{#- dbt-spark has no delete+insert, and its merge needs Delta, Iceberg or Hudi tables; the
    project's Spark tables are plain Parquet, so Spark rebuilds these models in full. -#}
{% macro spark__incremental_by_key() -%}
    {{ return('table') }}
{%- endmacro %}

{#- On an incremental run, a `where` clause keeping every raw row of the keys that have a
    row loaded after the watermark; on a full build, nothing.

    The watermark is the latest `_loaded_at` of the raw rows of the delivery files the
    model's table holds a row of. It is read from the model's own table rather than from
    ingest.load_log, so a run whose dbt build failed after the extract leaves it where it
    was and the next run picks those rows up. Every file of a load shares one
    `_loaded_at` (the extract's transaction time) and a later load has a later one, so no
    raw row loaded after the last build is at or below it; a file whose rows all lost
    the deduplication only makes its keys recompute again, which changes nothing. A file
    unloaded since the last build (removed or changed) is not covered: that run is a
    full build. -#}
{% macro changed_keys_only(relation, key) -%}
    {%- if is_incremental() %}
    where ({{ key }}) in (
        select {{ key }} from {{ relation }}
        where _loaded_at > (
            select coalesce(max(_loaded_at), cast('1900-01-01' as timestamp))
            from {{ relation }}
            where _delivery_file in (select _delivery_file from {{ this }})
        )
    )
    {%- endif %}
{%- endmacro %}

{#- The `loaded_through` of the last successful build of the whole project
    (meta.dbt_build_state, written by the pipeline after the build): every raw row loaded
    since has a `_loaded_at` at or after it. Where no such build is on record (a first
    build, a warehouse built by plain `dbt build`), the beginning of time: every row
    counts as new. -#}
{% macro last_build_loaded_through() -%}
    {%- set state = adapter.get_relation(
        database=this.database, schema='meta', identifier='dbt_build_state'
    ) -%}
    {%- if state is none -%}
        cast('1900-01-01' as timestamp)
    {%- else -%}
        (select coalesce(max(loaded_through), cast('1900-01-01' as timestamp)) from {{ state }})
    {%- endif -%}
{%- endmacro %}

{#- The raw table of a landing entity. Read by name, not as a dbt source: only the
    incremental branch reads it, and the full build's lineage is the model's own. -#}
{% macro raw_relation(system, entity) -%}
    {{ return(api.Relation.create(database=this.database, schema='raw_' ~ system, identifier=entity)) }}
{%- endmacro %}

{#- The orders whose row in marts.fct_orders a run must recompute (a `select order_id`):
    - every order the as-of view holds that the table lacks or holds differently: new
      orders, corrected ones, and those the moving cut-off reaches (placed, or fulfilled,
      since the last build), whichever way the as-of date moved;
    - the orders of every order line loaded since the last build;
    - the orders with a line of a product loaded since (its cost or catalog entry);
    - the orders of a currency with an fx rate loaded since, from that rate's date on (a
      rate applies up to the next one), or all of them where the new rate is the
      currency's earliest (the earliest rate also covers every date before it).
    Orders the as-of view no longer holds are deleted after the insert
    (delete_keys_not_in). -#}
{% macro orders_to_recompute(as_of_orders) -%}
    {%- set since = last_build_loaded_through() -%}
    {%- set order_columns = [
        'ordered_at', 'account_id', 'status', 'channel', 'region', 'sales_rep_id',
        'currency', 'fulfilled_at'
    ] -%}
    select as_of.order_id
    from {{ as_of_orders }} as as_of
    left join {{ this }} as built on as_of.order_id = built.order_id
    where built.order_id is null
        {%- for column in order_columns %}
        or as_of.{{ column }} is distinct from built.{{ column }}
        {%- endfor %}

    union

    select order_id from {{ raw_relation('sales', 'order_lines') }}
    where _loaded_at >= {{ since }}

    union

    select order_lines.order_id
    from {{ ref('stg_sales__order_lines') }} as order_lines
    inner join {{ raw_relation('sales', 'products') }} as products
        on order_lines.product_id = products.product_id
    where products._loaded_at >= {{ since }}

    union

    select as_of.order_id
    from {{ as_of_orders }} as as_of
    inner join (
        select
            new_rates.currency,
            case
                when min(new_rates.rate_date) > (
                    select min(rates.rate_date) from {{ raw_relation('sales', 'fx_rates') }} as rates
                    where rates.currency = new_rates.currency
                ) then min(new_rates.rate_date)
            end as changed_from
        from {{ raw_relation('sales', 'fx_rates') }} as new_rates
        where new_rates._loaded_at >= {{ since }}
        group by new_rates.currency
    ) as rates_since
        on as_of.currency = rates_since.currency
    where rates_since.changed_from is null
        or cast(as_of.ordered_at as date) >= rates_since.changed_from
{%- endmacro %}

{#- A post-hook: after an incremental run, delete the rows whose key `key` the model
    `source_model` no longer holds (an order corrected to a date after the cut-off, or an
    earlier as-of date). Nothing on a full build. -#}
{% macro delete_keys_not_in(key, source_model) -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    where {{ key }} not in (select {{ key }} from {{ ref(source_model) }})
    {%- endif -%}
{%- endmacro %}

{#- The KPI aggregates downstream of the order facts are incremental by period: a run
    rebuilds only the periods of every grain from the earliest date any changed order
    touches, and keeps the earlier ones as built. The order facts record that date; the
    aggregates read it.

    Why by period and not by key: an aggregate row sums every order of its period and
    slice, so one changed order changes its whole period, at every grain, in every slice
    it falls in; and a correction can move an order between periods, so both its old
    and its new date count. Why from that date on and not only its periods: it keeps one
    threshold per grain, so deleting and rebuilding stay one range each, and a daily
    run's changes sit at the end of history anyway.

    meta.kpi_changed_from holds one row per build of a source since the last successful
    build of the whole project (build_mode.record empties it then): the earliest date of
    any row the build changed, `1900-01-01` for a full build (every period), or no row
    where nothing changed. Kept across builds so that a build of a subset, or one that
    failed after the facts, leaves the aggregates to recompute what it changed. -#}
{% macro kpi_changes_relation() -%}
    {{ return(api.Relation.create(database=this.database, schema='meta', identifier='kpi_changed_from')) }}
{%- endmacro %}

{#- The orders a run recomputes, kept for the build of the order facts only: the model
    reads them, the change record below reads them with their old and new dates, and a
    post-hook drops them. -#}
{% macro orders_recompute_relation() -%}
    {{ return(api.Relation.create(database=this.database, schema=this.schema, identifier='fct_orders__recompute')) }}
{%- endmacro %}

{#- A pre-hook of marts.fct_orders: keep the orders to recompute, then record the
    earliest date any changed order touches: its row as built, its row as recomputed,
    or its row as deleted by delete_keys_not_in. Nothing where the engine rebuilds whole
    tables. -#}
{% macro record_order_changes() -%}
    {%- if incremental_by_key() == 'incremental' -%}
    {%- set changes = kpi_changes_relation() -%}
    {%- set recompute = orders_recompute_relation() -%}
    {%- set as_of_orders = ref('int_orders__as_of') -%}
    create schema if not exists {{ changes.include(database=false, identifier=false) }};
    create table if not exists {{ changes }} (
        source varchar(64) not null, changed_from timestamp not null
    );
    {%- if is_incremental() %}
    drop table if exists {{ recompute }};
    create table {{ recompute }} as
    select distinct order_id from ({{ orders_to_recompute(as_of_orders) }}) as to_recompute;
    insert into {{ changes }}
    select 'fct_orders', min(changed_from)
    from (
        select least(ordered_at, coalesce(fulfilled_at, ordered_at)) as changed_from
        from {{ this }}
        where order_id in (select order_id from {{ recompute }})
            or order_id not in (select order_id from {{ as_of_orders }})
        union all
        select least(ordered_at, coalesce(fulfilled_at, ordered_at)) as changed_from
        from {{ as_of_orders }}
        where order_id in (select order_id from {{ recompute }})
    ) as changed
    having count(*) > 0
    {%- else %}
    insert into {{ changes }} values ('fct_orders', cast('1900-01-01' as timestamp))
    {%- endif %}
    {%- endif -%}
{%- endmacro %}

{#- The earliest date a changed row of `source` touches since the last whole build; null
    where none changed. A warehouse without the record (built before it existed, then
    built from the aggregates on) rebuilds every period. -#}
{% macro kpi_changed_from(source) -%}
    {%- set changes = kpi_changes_relation() -%}
    {%- if adapter.get_relation(database=changes.database, schema=changes.schema, identifier=changes.identifier) is none -%}
    cast('1900-01-01' as timestamp)
    {%- else -%}
    (select min(changed_from) from {{ changes }} where source = '{{ source }}')
    {%- endif -%}
{%- endmacro %}

{#- The first period of `grain` (a column holding the grain's name) an incremental run
    rebuilds: the one holding the earliest changed date (`changed_from`, kpi_changed_from's
    expression, looked up once by the caller). -#}
{% macro kpi_first_changed_period(grain_column, changed_from) -%}
    case {{ grain_column }}
        {%- for grain in kpi_grains() %}
        when '{{ grain }}' then cast({{ dbt.date_trunc(grain, changed_from) }} as date)
        {%- endfor %}
    end
{%- endmacro %}

{#- The incremental branch of an additive flow KPI (kpi_flow), for the periods an
    incremental run rebuilds (those from kpi_first_changed_period on). Only the records
    of the days from the earliest changed one are read; a longer period is the sum of
    its days, the rebuilt ones and the days before them as the table holds them. That
    equals kpi_flow's sums over the period's own records exactly where numerator and
    denominator are sums of exact numbers (DECIMAL, integers): a KPI whose record
    measures are floating-point, or not sums, must not use it. -#}
{% macro kpi_flow_from_days(records, dimensions, source) -%}
    {%- set changed_from = kpi_changed_from(source) -%}
    {%- set first_day = 'cast(' ~ dbt.date_trunc('day', changed_from) ~ ' as date)' -%}
    with changed_records as (
        select
            'day' as grain,
            cast({{ dbt.date_trunc('day', 'event_at') }} as date) as period_start,
            {{ dimensions | join(', ') }},
            numerator,
            denominator
        from {{ records }}
        where event_at >= {{ first_day }}
    ),

    changed_days as (
        {{ kpi_slice_sums('changed_records', dimensions, ['numerator', 'denominator']) }}
    ),

    kept_days as (
        select grain, period_start, dimension, dimension_value, numerator, denominator
        from {{ this }}
        where grain = 'day'
            and period_start < {{ first_day }}
            and period_start >= least(
                {%- for grain in kpi_grains() %}
                cast({{ dbt.date_trunc(grain, changed_from) }} as date)
                {{- ',' if not loop.last }}
                {%- endfor %}
            )
    ),

    days as (
        select * from changed_days
        union all
        select * from kept_days
    ),

    by_grain as (
        {%- for grain in kpi_grains() %}
        select
            '{{ grain }}' as grain,
            cast({{ dbt.date_trunc(grain, 'period_start') }} as date) as period_start,
            dimension,
            dimension_value,
            numerator,
            denominator
        from days
        {% if not loop.last %}union all{% endif %}
        {%- endfor %}
    )

    select
        grain,
        period_start,
        dimension,
        dimension_value,
        sum(numerator) as numerator,
        sum(denominator) as denominator
    from by_grain
    where period_start >= {{ kpi_first_changed_period('grain', changed_from) }}
    group by grain, period_start, dimension, dimension_value
{%- endmacro %}

{#- A pre-hook of an aggregate incremental by period: delete the periods it rebuilds. -#}
{% macro delete_changed_periods(source) -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    where period_start >= {{ kpi_first_changed_period('grain', kpi_changed_from(source)) }}
    {%- endif -%}
{%- endmacro %}

{#- After a build of the order facts, drop the orders it recomputed, or those an
    incremental build that failed left behind. -#}
{% macro drop_orders_recompute() -%}
    {%- if incremental_by_key() == 'incremental' -%}
    drop table if exists {{ orders_recompute_relation() }}
    {%- endif -%}
{%- endmacro %}
