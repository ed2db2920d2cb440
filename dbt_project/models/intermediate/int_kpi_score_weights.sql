-- Each KPI's weight in the roll-up scores (config.meta.kpi.score_weight in the registry),
-- with the perspective it counts in and its direction.
{%- set weights = [] %}
{%- if execute %}
{%- for kpi_id in kpi_ids() %}
{%- do weights.append(graph.nodes.get('model.kpi_warehouse.fct_kpi_' ~ kpi_id).config.meta.kpi) %}
{%- endfor %}
{%- endif %}

with registry as (
    {%- for kpi in weights %}
    select
        {{ sql_literal(kpi.id) }} as kpi_id,
        {{ sql_literal(kpi.perspective) }} as perspective,
        {{ sql_literal(kpi.direction) }} as direction,
        {{ sql_literal(kpi.score_weight) }} as score_weight
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
    {%- if not weights %}
    select null as kpi_id, null as perspective, null as direction, null as score_weight
    where false
    {%- endif %}
),

final as (
    select
        cast(kpi_id as {{ type_text() }}) as kpi_id,
        cast(perspective as {{ type_text() }}) as perspective,
        cast(direction as {{ type_text() }}) as direction,
        cast(score_weight as {{ type_double() }}) as score_weight
    from registry
)

select * from final
