-- One row per service of the service catalog. Valid rows only (the extract quarantines the rest),
-- one per service_id: the later delivery, then the later row.
{{ config(materialized=incremental_by_key(), unique_key=['service_id']) }}

with source as (
    select * from {{ source('ops', 'services') }}
    {{ changed_keys_only(source('ops', 'services'), 'service_id') }}
),

deduplicated as (
    {{ deduplicate('source', 'service_id', '_delivery_file desc, _file_row desc') }}
),

final as (
    select
        service_id,
        service_name,
        tier,
        availability_target,
        _delivery_file
    from deduplicated
)

select * from final
