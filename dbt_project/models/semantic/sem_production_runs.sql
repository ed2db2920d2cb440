-- Production runs ended as of the run, placed in time by ended_at: the record-level fact
-- behind defect rate.
with production_runs as (
    select * from {{ ref('int_production_runs__as_of') }}
),

final as (
    select
        run_id,
        ended_at,
        coalesce(plant, 'unknown') as plant,
        product_id,
        units_defective,
        units_produced
    from production_runs
)

select * from final
