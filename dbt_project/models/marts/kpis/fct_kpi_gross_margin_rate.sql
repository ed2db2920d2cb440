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
        cast(denominator as decimal(38, 8)) as denominator
    from aggregated
)

select * from final
