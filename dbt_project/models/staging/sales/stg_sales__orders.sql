-- One row per customer order. Valid rows only (the extract quarantines the rest), one per
-- order_id: the greatest updated_at, then the later delivery, then the later row.
{{ config(materialized=incremental_by_key(), unique_key=['order_id']) }}

with source as (
    select * from {{ source('sales', 'orders') }}
    {{ changed_keys_only(source('sales', 'orders'), 'order_id') }}
),

deduplicated as (
    {{ deduplicate('source', 'order_id', 'updated_at desc, _delivery_file desc, _file_row desc') }}
),

final as (
    select
        order_id,
        account_id,
        ordered_at,
        status,
        channel,
        region,
        sales_rep_id,
        currency,
        fulfilled_at,
        updated_at,
        _delivery_file
    from deduplicated
)

select * from final
