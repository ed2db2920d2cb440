{#- Spark spells two of the contract's column types differently: no bare VARCHAR and no
    DOUBLE PRECISION. dbt casts the declared types when it checks a model contract, so
    they are translated here (dbt_project.yml lets the project's macros go first). -#}
{% macro spark__cast(field, type) -%}
    {%- set spelled = {'varchar': 'string', 'text': 'string', 'double precision': 'double'} -%}
    cast({{ field }} as {{ spelled.get(type | lower | trim, type) }})
{%- endmacro %}

{#- Register the raw_<system> tables of the project's landing sources over the Parquet
    export of a DuckDB warehouse: <root>/<schema>/<table>/ (python -m
    orchestration.engines.spark). Sources marked landing_contract: false (the goal files)
    are not landing data and are not exported. -#}
{% macro register_raw_tables(root) %}
    {%- for source in graph.sources.values()
        if source.source_meta.get('landing_contract', true) -%}
        {%- set location = root ~ '/' ~ source.schema ~ '/' ~ source.name -%}
        {%- do run_query('create database if not exists ' ~ source.schema) -%}
        {%- do run_query('drop table if exists ' ~ source.schema ~ '.' ~ source.name) -%}
        {%- do run_query(
            'create table ' ~ source.schema ~ '.' ~ source.name
            ~ " using parquet location '" ~ location ~ "'"
        ) -%}
        {{ log('registered ' ~ source.schema ~ '.' ~ source.name ~ ' at ' ~ location, info=true) }}
    {%- endfor -%}
{% endmacro %}
