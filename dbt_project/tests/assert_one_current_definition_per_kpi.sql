{{ config(meta={'dagster': {'ref': {'name': 'kpi_definitions'}}}) }}
-- Each KPI of the catalog has exactly one definition version in force.
select
    kpi_id,
    count(*) filter (where is_current) as current_versions
from {{ ref('kpi_definitions') }}
group by kpi_id
having count(*) filter (where is_current) <> 1
