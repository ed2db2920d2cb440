-- Revenue per qualifying order (an order without valid lines counts, with 0 revenue).
with orders as (
    select * from {{ ref('fct_orders') }}
),

records as (
    select
        ordered_at as event_at,
        coalesce(region, 'unknown') as region,
        coalesce(channel, 'unknown') as channel,
        revenue_usd as numerator,
        1 as denominator
    from orders
    where status in ('placed', 'fulfilled') and is_convertible
),

aggregated as (
    {{ kpi_flow('records', ['region', 'channel']) }}
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
