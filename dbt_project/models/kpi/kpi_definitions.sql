-- One row per KPI and definition version, compiled from the governed definitions that
-- each fct_kpi_<id> model carries in its YAML (config.meta.kpi): the registry is
-- written once, and the docs site, this table and the scorecard all read it.
{%- set rows = [] -%}
{%- if execute -%}
{%- for kpi_id in kpi_ids() -%}
{%- set node = graph.nodes.get('model.kpi_warehouse.fct_kpi_' ~ kpi_id) -%}
{%- if node is none or node.config.meta.kpi is not defined -%}
            {{ exceptions.raise_compiler_error(
                "KPI " ~ kpi_id ~ " has no model fct_kpi_" ~ kpi_id ~ " with a definition in config.meta.kpi"
            ) }}
        {%- endif -%}
{%- set kpi = node.config.meta.kpi -%}
{%- set current = kpi.versions | map(attribute='version') | max -%}
{%- for version in kpi.versions -%}
{%- do rows.append({'kpi': kpi, 'version': version, 'is_current': version.version == current}) -%}
{%- endfor -%}
{%- endfor -%}
{%- endif %}

with registry as (
    {%- for row in rows %}
    {%- set kpi = row.kpi %}
    select
        {{ sql_literal(kpi.id) }} as kpi_id,
        {{ sql_literal(kpi.name) }} as name,
        {{ sql_literal(kpi.description ~ ' ' ~ kpi.question) }} as description,
        {{ sql_literal(row.version.formula) }} as formula,
        {{ sql_literal(kpi.unit) }} as unit,
        {{ sql_literal(kpi.direction) }} as direction,
        {{ sql_literal(kpi.owner) }} as owner,
        {{ sql_literal(kpi.perspective) }} as perspective,
        {{ sql_literal(kpi.indicator_type) }} as indicator_type,
        {{ sql_literal(kpi.measure_type) }} as measure_type,
        {{ sql_literal(kpi.review_cadence) }} as review_cadence,
        {{ sql_literal(kpi.default_target) }} as default_target,
        {{ sql_literal(kpi.amber_tolerance) }} as amber_tolerance,
        {{ sql_literal(kpi.dimensions) }} as dimensions,
        {{ sql_literal(kpi.source_entities) }} as source_entities,
        {{ row.version.version }} as definition_version,
        {{ sql_literal(row.version.effective_from) }} as effective_from,
        {{ 'true' if row.is_current else 'false' }} as is_current,
        {{ sql_literal(kpi.question) }} as question,
        {{ sql_literal(kpi.target_reason) }} as target_reason,
        {{ sql_literal(kpi.aggregation) }} as aggregation,
        {{ sql_literal(kpi.target_source) }} as target_source
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
    {%- if not rows %}
    select
        {% for c in ['kpi_id', 'name', 'description', 'formula', 'unit', 'direction', 'owner',
                     'perspective', 'indicator_type', 'measure_type', 'review_cadence'] -%}
        null as {{ c }},
        {% endfor -%}
        null as default_target, null as amber_tolerance, null as dimensions,
        null as source_entities, null as definition_version, null as effective_from,
        null as is_current, null as question, null as target_reason, null as aggregation,
        null as target_source
    where false
    {%- endif %}
),

final as (
    select
        cast(kpi_id as {{ type_text() }}) as kpi_id,
        cast(name as {{ type_text() }}) as name,
        cast(description as {{ type_text() }}) as description,
        cast(formula as {{ type_text() }}) as formula,
        cast(unit as {{ type_text() }}) as unit,
        cast(direction as {{ type_text() }}) as direction,
        cast(owner as {{ type_text() }}) as owner,
        cast(perspective as {{ type_text() }}) as perspective,
        cast(indicator_type as {{ type_text() }}) as indicator_type,
        cast(measure_type as {{ type_text() }}) as measure_type,
        cast(review_cadence as {{ type_text() }}) as review_cadence,
        cast(default_target as {{ type_double() }}) as default_target,
        cast(amber_tolerance as {{ type_double() }}) as amber_tolerance,
        cast(dimensions as {{ type_text() }}) as dimensions,
        cast(source_entities as {{ type_text() }}) as source_entities,
        cast(definition_version as integer) as definition_version,
        cast(effective_from as date) as effective_from,
        cast(is_current as boolean) as is_current,
        cast(question as {{ type_text() }}) as question,
        cast(target_reason as {{ type_text() }}) as target_reason,
        cast(aggregation as {{ type_text() }}) as aggregation,
        cast(target_source as {{ type_text() }}) as target_source
    from registry
)

select * from final
