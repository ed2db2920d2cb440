{{ config(meta={'dagster': {'ref': {'name': 'kpi_projections'}}}) }}
-- A projection lies within its own range and a probability is one: rows that break either.
with projections as (
    select * from {{ ref('kpi_projections') }}
),

final as (
    select *
    from projections
    where
        projected_low > projected_value
        or projected_high < projected_value
        or probability_of_meeting_target < 0
        or probability_of_meeting_target > 1
)

select * from final
