-- Gross margin over the qualifying orders' lines of catalog products: numerator is
-- their revenue less quantity x unit_cost, denominator their revenue.
with orders as (
    select * from {{ ref('fct_orders') }}
),

records as (
    select
        ordered_at as event_at,
        coalesce(region, 'unknown') as region,
        coalesce(channel, 'unknown') as channel,
        known_product_revenue_usd - known_product_cost_usd as numerator,
        known_product_revenue_usd as denominator
    from orders
    where status in ('placed', 'fulfilled') and is_convertible
),

final as (
    {{ kpi_flow('records', ['region', 'channel']) }}
)

select * from final
