-- One row per sales opportunity. Valid rows only (the extract quarantines the rest), one per
-- opportunity_id: the greatest updated_at, then the later delivery, then the later row.
{{ config(materialized=incremental_by_key(), unique_key=['opportunity_id']) }}

with source as (
    select * from {{ source('crm', 'opportunities') }}
    {{ changed_keys_only(source('crm', 'opportunities'), 'opportunity_id') }}
),

deduplicated as (
    {{ deduplicate('source', 'opportunity_id',
        'updated_at desc, _delivery_file desc, _file_row desc') }}
),

final as (
    select
        opportunity_id,
        account_id,
        owner_id,
        created_at,
        stage,
        amount,
        currency,
        closed_at,
        updated_at,
        _delivery_file
    from deduplicated
)

select * from final
