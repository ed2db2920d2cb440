-- Opportunities as of the run: rows whose anchor (created_at) is at or after the cut-off are
-- left out, and event timestamps at or after it read as null (not happened yet).
with source_rows as (
    select * from {{ ref('stg_crm__opportunities') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

final as (
    select
        source_rows.opportunity_id,
        source_rows.created_at,
        source_rows.account_id,
        source_rows.owner_id,
        source_rows.stage,
        source_rows.amount,
        source_rows.currency,
        {{ before_cutoff('source_rows.closed_at') }} as closed_at
    from source_rows
    cross join as_of
    where source_rows.created_at < as_of.cutoff_at
)

select * from final
