-- Shipments delivered as of the run, placed in time by delivered_at: the record-level
-- fact behind on-time delivery. region is the shipment's order's ('unknown' when the
-- order is unknown as of the run).
with shipments as (
    select * from {{ ref('int_shipments__as_of') }}
),

orders as (
    select * from {{ ref('int_orders__as_of') }}
),

final as (
    select
        shipments.shipment_id,
        shipments.order_id,
        shipments.delivered_at,
        coalesce(shipments.carrier, 'unknown') as carrier,
        coalesce(orders.region, 'unknown') as region,
        coalesce(orders.channel, 'unknown') as channel,
        case when shipments.delivered_at <= shipments.promised_at then 1 else 0 end
            as on_time_shipments
    from shipments
    left join orders on shipments.order_id = orders.order_id
    where shipments.delivered_at is not null
)

select * from final
