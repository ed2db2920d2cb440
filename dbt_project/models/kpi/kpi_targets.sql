-- Every KPI's dated target entries, compiled from its registry entry (config.meta.kpi.targets):
-- a period's target and amber tolerance are those of the entry in force on the period's
-- first day (effective_from <= period_start < effective_to). Each service's availability
-- slice takes its catalog target (ops.services) under the KPI's entries. Revenue's targets
-- are its monthly plan (sales.sales_targets); its entries here carry the amber tolerance.
{%- set entries = kpi_target_entries() %}

with registry as (
    {%- for e in entries %}
    select
        {{ sql_literal(e.kpi_id) }} as kpi_id,
        {{ sql_literal(e.target_source) }} as target_source,
        cast({{ sql_literal(e.effective_from) }} as date) as effective_from,
        cast({{ sql_literal(e.effective_to) }} as date) as effective_to,
        cast({{ sql_literal(e.target) }} as {{ type_double() }}) as target,
        cast({{ sql_literal(e.amber_tolerance) }} as {{ type_double() }}) as amber_tolerance,
        {{ sql_literal(e.reason) }} as reason,
        {{ e.definition_version }} as definition_version
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
    {%- if not entries %}
    select
        null as kpi_id, null as target_source, cast(null as date) as effective_from,
        cast(null as date) as effective_to, null as target, null as amber_tolerance,
        null as reason, null as definition_version
    where false
    {%- endif %}
),

services as (
    select * from {{ ref('stg_ops__services') }}
),

company as (
    select
        kpi_id,
        'all' as dimension,
        'all' as dimension_value,
        effective_from,
        effective_to,
        target,
        amber_tolerance,
        reason,
        definition_version
    from registry
),

service_slices as (
    select
        registry.kpi_id,
        'service' as dimension,
        services.service_id as dimension_value,
        registry.effective_from,
        registry.effective_to,
        cast(services.availability_target as {{ type_double() }}) as target,
        registry.amber_tolerance,
        'The service''s availability_target in the service catalog (ops.services). '
        || registry.reason as reason,
        registry.definition_version
    from registry
    cross join services
    where registry.target_source = 'service_catalog'
),

unioned as (
    select * from company
    union all
    select * from service_slices
),

final as (
    select
        cast(kpi_id as {{ type_text() }}) as kpi_id,
        cast(dimension as {{ type_text() }}) as dimension,
        cast(dimension_value as {{ type_text() }}) as dimension_value,
        cast(effective_from as date) as effective_from,
        cast(effective_to as date) as effective_to,
        cast(target as {{ type_double() }}) as target,
        cast(amber_tolerance as {{ type_double() }}) as amber_tolerance,
        cast(reason as {{ type_text() }}) as reason,
        cast(definition_version as integer) as definition_version
    from unioned
)

select * from final
