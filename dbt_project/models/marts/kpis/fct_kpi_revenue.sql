-- Net revenue in USD of qualifying orders (placed or fulfilled, ordered_at in the
-- period), by grain, period and slice.
with orders as (
    select * from {{ ref('fct_orders') }}
),

records as (
    select
        ordered_at as event_at,
        coalesce(region, 'unknown') as region,
        coalesce(channel, 'unknown') as channel,
        revenue_usd as numerator,
        cast(null as bigint) as denominator
    from orders
    where status in ('placed', 'fulfilled') and is_convertible
),

final as (
    {{ kpi_flow('records', ['region', 'channel']) }}
)

select * from final
