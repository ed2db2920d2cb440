-- One row per customer account. Valid rows only (the extract quarantines the rest), one per
-- account_id: the greatest updated_at, then the later delivery, then the later row.
{{ config(materialized=incremental_by_key(), unique_key=['account_id']) }}

with source as (
    select * from {{ source('crm', 'accounts') }}
    {{ changed_keys_only(source('crm', 'accounts'), 'account_id') }}
),

deduplicated as (
    {{ deduplicate('source', 'account_id',
        'updated_at desc, _delivery_file desc, _file_row desc') }}
),

final as (
    select
        account_id,
        account_name,
        industry,
        segment,
        region,
        owner_id,
        created_at,
        churned_at,
        updated_at,
        _delivery_file
    from deduplicated
)

select * from final
