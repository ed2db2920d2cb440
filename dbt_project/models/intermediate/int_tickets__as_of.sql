-- Tickets as of the run: rows whose anchor (created_at) is at or after the cut-off are
-- left out, and event timestamps at or after it read as null (not happened yet).
with source_rows as (
    select * from {{ ref('stg_crm__tickets') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

final as (
    select
        source_rows.ticket_id,
        source_rows.created_at,
        source_rows.account_id,
        source_rows.priority,
        source_rows.channel,
        source_rows.assignee_id,
        source_rows.satisfaction_score,
        {{ before_cutoff('source_rows.first_response_at') }} as first_response_at,
        {{ before_cutoff('source_rows.resolved_at') }} as resolved_at
    from source_rows
    cross join as_of
    where source_rows.created_at < as_of.cutoff_at
)

select * from final
