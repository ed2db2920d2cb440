-- Share of leads created in the period that have a converted_at (the timestamp, not
-- the status, is the evidence).
with leads as (
    select * from {{ ref('int_leads__as_of') }}
),

records as (
    select
        created_at as event_at,
        coalesce(region, 'unknown') as region,
        coalesce(source, 'unknown') as channel,
        case when converted_at is not null then 1 else 0 end as numerator,
        1 as denominator
    from leads
),

final as (
    {{ kpi_flow('records', ['region', 'channel']) }}
)

select * from final
