-- Accounts as of the run: rows whose anchor (created_at) is at or after the cut-off are
-- left out, and event timestamps at or after it read as null (not happened yet).
with source_rows as (
    select * from {{ ref('stg_crm__accounts') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

final as (
    select
        source_rows.account_id,
        source_rows.created_at,
        source_rows.account_name,
        source_rows.industry,
        source_rows.segment,
        source_rows.region,
        source_rows.owner_id,
        {{ before_cutoff('source_rows.churned_at') }} as churned_at
    from source_rows
    cross join as_of
    where source_rows.created_at < as_of.cutoff_at
)

select * from final
