-- Shipments as of the run: rows whose anchor (shipped_at) is at or after the cut-off are
-- left out, and event timestamps at or after it read as null (not happened yet).
with source_rows as (
    select * from {{ ref('stg_ops__shipments') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

final as (
    select
        source_rows.shipment_id,
        source_rows.shipped_at,
        source_rows.order_id,
        source_rows.carrier,
        source_rows.promised_at,
        {{ before_cutoff('source_rows.delivered_at') }} as delivered_at
    from source_rows
    cross join as_of
    where source_rows.shipped_at < as_of.cutoff_at
)

select * from final
