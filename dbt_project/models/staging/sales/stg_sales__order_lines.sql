-- One row per order line; prices in the order's currency. Valid rows only (the extract quarantines
-- the rest), one per order_id, line_number: the later delivery, then the later row.
{{ config(materialized=incremental_by_key(), unique_key=['order_id', 'line_number']) }}

with source as (
    select * from {{ source('sales', 'order_lines') }}
    {{ changed_keys_only(source('sales', 'order_lines'), 'order_id, line_number') }}
),

deduplicated as (
    {{ deduplicate('source', 'order_id, line_number', '_delivery_file desc, _file_row desc') }}
),

final as (
    select
        order_id,
        line_number,
        product_id,
        quantity,
        unit_price,
        discount_amount,
        _delivery_file
    from deduplicated
)

select * from final
