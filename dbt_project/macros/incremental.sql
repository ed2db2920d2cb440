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
