-- Leads as of the run, placed in time by created_at: the record-level fact behind lead
-- conversion. channel is the lead's source, as in the catalog's slices.
with leads as (
    select * from {{ ref('int_leads__as_of') }}
),

final as (
    select
        lead_id,
        account_id,
        created_at,
        coalesce(region, 'unknown') as region,
        coalesce(source, 'unknown') as channel,
        status,
        case when converted_at is not null then 1 else 0 end as converted_leads
    from leads
)

select * from final
