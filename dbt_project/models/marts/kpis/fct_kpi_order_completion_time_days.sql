-- Mean days from order to fulfilment of orders fulfilled in the period and not
-- cancelled. Summed as integer microseconds, converted once at the end.
with orders as (
    select * from {{ ref('int_orders__as_of') }}
),

records as (
    select
        fulfilled_at as event_at,
        coalesce(region, 'unknown') as region,
        coalesce(channel, 'unknown') as channel,
        {{ epoch_us('fulfilled_at') }} - {{ epoch_us('ordered_at') }} as numerator,
        1 as denominator
    from orders
    where fulfilled_at is not null and status <> 'cancelled'
),

aggregated as (
    {{ kpi_flow('records', ['region', 'channel']) }}
),

final as (
    select
        grain,
        period_start,
        dimension,
        dimension_value,
        cast(numerator as {{ type_double() }}) / 86400000000 as numerator,
        denominator
    from aggregated
)

select * from final
