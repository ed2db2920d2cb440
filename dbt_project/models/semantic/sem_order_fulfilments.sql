-- Orders fulfilled as of the run and not cancelled, placed in time by fulfilled_at: the
-- record-level fact behind order completion time. Durations in integer microseconds,
-- so that sums are exact whatever the grouping.
with orders as (
    select * from {{ ref('int_orders__as_of') }}
),

final as (
    select
        order_id,
        account_id,
        fulfilled_at,
        coalesce(region, 'unknown') as region,
        coalesce(channel, 'unknown') as channel,
        status,
        {{ epoch_us('fulfilled_at') }} - {{ epoch_us('ordered_at') }} as completion_us
    from orders
    where fulfilled_at is not null and status <> 'cancelled'
)

select * from final
