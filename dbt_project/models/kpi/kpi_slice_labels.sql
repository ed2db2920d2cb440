-- Display names of slice values, for the scorecard and BI tools: a service slice shows its
-- name from the service catalog instead of its id. Slices of other dimensions have
-- readable codes and no row here.
with services as (
    select * from {{ ref('stg_ops__services') }}
),

final as (
    select
        cast('service' as {{ type_text() }}) as dimension,
        service_id as dimension_value,
        service_name as label
    from services
    where service_name is not null and trim(service_name) <> ''
)

select * from final
