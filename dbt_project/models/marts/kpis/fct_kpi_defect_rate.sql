-- Defective units per unit produced, over production runs ended in the period.
with production_runs as (
    select * from {{ ref('int_production_runs__as_of') }}
),

records as (
    select
        ended_at as event_at,
        coalesce(plant, 'unknown') as plant,
        units_defective as numerator,
        units_produced as denominator
    from production_runs
),

final as (
    {{ kpi_flow('records', ['plant']) }}
)

select * from final
