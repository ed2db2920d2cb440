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

final as (
    {{ kpi_flow('records', ['region', 'channel']) }}
)

select * from final
