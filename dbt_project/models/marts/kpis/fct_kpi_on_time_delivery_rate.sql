-- Share of shipments delivered in the period by their promised time; region is the
-- shipment's order's ('unknown' when the order is unknown as of the run).
with shipments as (
    select * from {{ ref('int_shipments__as_of') }}
),

orders as (
    select * from {{ ref('int_orders__as_of') }}
),

records as (
    select
        shipments.delivered_at as event_at,
        coalesce(shipments.carrier, 'unknown') as carrier,
        coalesce(orders.region, 'unknown') as region,
        case when shipments.delivered_at <= shipments.promised_at then 1 else 0 end as numerator,
        1 as denominator
    from shipments
    left join orders on shipments.order_id = orders.order_id
    where shipments.delivered_at is not null
),

final as (
    {{ kpi_flow('records', ['carrier', 'region']) }}
)

select * from final
