{#- The staging layer is incremental by key: a daily run rebuilds only the keys that got a
    raw row since the model's last build, deduplicated over all raw rows of those keys, so
    the table equals a full build. The run falls back to a full build (dbt --full-refresh)
    whenever a raw row may have gone away: see orchestration/kpis/build_mode.py.

    Neither macro changes what a model computes, only how much of it is recomputed, so the
    KPI fingerprints (orchestration/kpis/fingerprints.py) leave their calls out. -#}

{#- `incremental` where the adapter can delete+insert by key; a full table elsewhere. -#}
{% macro staging_materialization() -%}
    {{ return(adapter.dispatch('staging_materialization', 'kpi_warehouse')()) }}
{%- endmacro %}

{% macro default__staging_materialization() -%}
    {{ return('incremental') }}
{%- endmacro %}

{#- dbt-spark has no delete+insert, and its merge needs Delta, Iceberg or Hudi tables; the
    project's Spark tables are plain Parquet, so Spark rebuilds staging in full. -#}
{% macro spark__staging_materialization() -%}
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
