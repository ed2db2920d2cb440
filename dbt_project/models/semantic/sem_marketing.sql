-- Marketing spend rows and leads in one fact, each placed in time by its own date
-- (spend_date, created_at), so that cost per lead is one ratio over one table and can be
-- grouped by channel and region together. Spend in a currency without any rate is left
-- out, as in fct_kpi_cost_per_lead.
with spend as (
    select * from {{ ref('fct_marketing_spend') }}
),

leads as (
    select * from {{ ref('int_leads__as_of') }}
),

records as (
    select
        'spend' as record_type,
        cast(spend_date as timestamp) as event_at,
        coalesce(channel, 'unknown') as channel,
        coalesce(region, 'unknown') as region,
        amount_usd as spend_usd,
        0 as leads
    from spend
    where amount_usd is not null

    union all

    select
        'lead' as record_type,
        created_at as event_at,
        coalesce(source, 'unknown') as channel,
        coalesce(region, 'unknown') as region,
        cast(0 as decimal(38, 8)) as spend_usd,
        1 as leads
    from leads
),

final as (
    select
        row_number() over (
            order by event_at, record_type, channel, region, spend_usd
        ) as marketing_record_id,
        records.*
    from records
)

select * from final
