-- Marketing spend in USD per lead created, both placed in the period by their own
-- dates (spend_date, created_at). Spend in a currency without any rate is left out.
with spend as (
    select * from {{ ref('fct_marketing_spend') }}
),

leads as (
    select * from {{ ref('int_leads__as_of') }}
),

records as (
    select
        cast(spend_date as timestamp) as event_at,
        coalesce(channel, 'unknown') as channel,
        coalesce(region, 'unknown') as region,
        amount_usd as numerator,
        0 as denominator
    from spend
    where amount_usd is not null

    union all

    select
        created_at as event_at,
        coalesce(source, 'unknown') as channel,
        coalesce(region, 'unknown') as region,
        cast(0 as decimal(18, 4)) as numerator,
        1 as denominator
    from leads
),

aggregated as (
    {{ kpi_flow('records', ['channel', 'region']) }}
),

-- Sums of exact amounts at one fixed scale, whatever scale an engine's sum returns.
final as (
    select
        grain,
        period_start,
        dimension,
        dimension_value,
        cast(numerator as decimal(38, 8)) as numerator,
        denominator
    from aggregated
)

select * from final
