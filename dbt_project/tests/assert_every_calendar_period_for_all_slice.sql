{{ config(meta={'dagster': {'ref': {'name': 'kpi_values'}}}) }}
-- Every KPI has a row for dimension 'all' in every period of every grain.
with calendar as (
    select
        grain,
        period_start
    from {{ ref('dim_calendar') }}
),

definitions as (
    select kpi_id from {{ ref('kpi_definitions') }}
    where is_current
),

published as (
    select
        kpi_id,
        grain,
        period_start
    from {{ ref('kpi_values') }}
    where dimension = 'all'
)

select
    definitions.kpi_id,
    calendar.grain,
    calendar.period_start
from definitions
cross join calendar
left join published
    on definitions.kpi_id = published.kpi_id
        and calendar.grain = published.grain
        and calendar.period_start = published.period_start
where published.kpi_id is null
