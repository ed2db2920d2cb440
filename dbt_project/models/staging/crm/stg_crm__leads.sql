-- One row per marketing lead. Valid rows only (the extract quarantines the rest), one per
-- lead_id: the greatest updated_at, then the later delivery, then the later row.
{{ config(materialized=incremental_by_key(), unique_key=['lead_id']) }}

with source as (
    select * from {{ source('crm', 'leads') }}
    {{ changed_keys_only(source('crm', 'leads'), 'lead_id') }}
),

deduplicated as (
    {{ deduplicate('source', 'lead_id', 'updated_at desc, _delivery_file desc, _file_row desc') }}
),

final as (
    select
        lead_id,
        created_at,
        source,
        region,
        owner_id,
        status,
        converted_at,
        account_id,
        updated_at,
        _delivery_file
    from deduplicated
)

select * from final
