-- One row per product of the catalog; costs and prices in USD. Valid rows only (the extract
-- quarantines the rest), one per product_id: the greatest updated_at, then the later delivery, then
-- the later row.
{{ config(materialized=incremental_by_key(), unique_key=['product_id']) }}

with source as (
    select * from {{ source('sales', 'products') }}
    {{ changed_keys_only(source('sales', 'products'), 'product_id') }}
),

deduplicated as (
    {{ deduplicate('source', 'product_id',
        'updated_at desc, _delivery_file desc, _file_row desc') }}
),

final as (
    select
        product_id,
        product_name,
        category,
        unit_cost,
        list_price,
        updated_at,
        _delivery_file
    from deduplicated
)

select * from final
