{#- A goals source table (raw_goals.*, written by the goal_files step), or an empty relation
    of its documented columns where it was never loaded: a plain `dbt run` on a new
    warehouse (or `--empty`) still builds the goal models, empty. -#}
{% macro goals_source_or_empty(table) -%}
    {%- set relation = source('goals', table) -%}
    {%- set found = adapter.get_relation(
        database=relation.database, schema=relation.schema, identifier=relation.identifier
    ) if execute else relation -%}
    {%- if found is not none -%}
    select * from {{ relation }}
    {%- else -%}
    {%- set columns = graph.sources['source.kpi_warehouse.goals.' ~ table].columns.values() | list -%}
    select
    {%- for column in columns %}
        {%- set type = {'varchar': type_text(), 'double': type_double()}.get(column.data_type, column.data_type) %}
        cast(null as {{ type }}) as {{ column.name }}{{ ',' if not loop.last }}
    {%- endfor %}
    where false
    {%- endif -%}
{%- endmacro %}
