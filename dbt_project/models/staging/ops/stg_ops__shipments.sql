-- One row per shipment of an order. Valid rows only (the extract quarantines the rest), one per
-- shipment_id: the greatest updated_at, then the later delivery, then the later row.
{{ config(materialized=incremental_by_key(), unique_key=['shipment_id']) }}

with source as (
    select * from {{ source('ops', 'shipments') }}
    {{ changed_keys_only(source('ops', 'shipments'), 'shipment_id') }}
),

deduplicated as (
    {{ deduplicate('source', 'shipment_id',
        'updated_at desc, _delivery_file desc, _file_row desc') }}
),

final as (
    select
        shipment_id,
        order_id,
        carrier,
        shipped_at,
        promised_at,
        delivered_at,
        updated_at,
        _delivery_file
    from deduplicated
)

select * from final
