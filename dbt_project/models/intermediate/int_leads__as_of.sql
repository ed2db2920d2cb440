-- Leads as of the run: rows whose anchor (created_at) is at or after the cut-off are
-- left out, and event timestamps at or after it read as null (not happened yet).
with source_rows as (
    select * from {{ ref('stg_crm__leads') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

final as (
    select
        source_rows.lead_id,
        source_rows.created_at,
        source_rows.source,
        source_rows.region,
        source_rows.owner_id,
        source_rows.status,
        source_rows.account_id,
        {{ before_cutoff('source_rows.converted_at') }} as converted_at
    from source_rows
    cross join as_of
    where source_rows.created_at < as_of.cutoff_at
)

select * from final
