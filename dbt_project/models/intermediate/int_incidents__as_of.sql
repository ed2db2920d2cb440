-- Incidents as of the run: rows whose anchor (started_at) is at or after the cut-off are
-- left out, and event timestamps at or after it read as null (not happened yet).
with source_rows as (
    select * from {{ ref('stg_ops__incidents') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

final as (
    select
        source_rows.incident_id,
        source_rows.started_at,
        source_rows.service_id,
        source_rows.severity,
        source_rows.is_outage,
        {{ before_cutoff('source_rows.resolved_at') }} as resolved_at
    from source_rows
    cross join as_of
    where source_rows.started_at < as_of.cutoff_at
)

select * from final
