-- One row per month and region: the revenue plan in USD. Valid rows only (the extract quarantines
-- the rest), one per target_month, region: the later delivery, then the later row.
{{ config(materialized=incremental_by_key(), unique_key=['target_month', 'region']) }}

with source as (
    select * from {{ source('sales', 'sales_targets') }}
    {{ changed_keys_only(source('sales', 'sales_targets'), 'target_month, region') }}
),

deduplicated as (
    {{ deduplicate('source', 'target_month, region', '_delivery_file desc, _file_row desc') }}
),

final as (
    select
        target_month,
        region,
        revenue_target,
        _delivery_file
    from deduplicated
)

select * from final
