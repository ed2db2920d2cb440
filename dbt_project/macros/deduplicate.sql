{#- Keep one row per key: the first by `order_by`. Written with a plain window and
    filter (no QUALIFY) so that it runs on every warehouse the project targets. -#}
{% macro deduplicate(relation, partition_by, order_by) -%}
    select * from (
        select
            *,
            row_number() over (partition by {{ partition_by }} order by {{ order_by }}) as _dedup_rank
        from {{ relation }}
    ) as ranked
    where _dedup_rank = 1
{%- endmacro %}
