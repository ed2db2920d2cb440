-- One row per incident of a service; resolved_at null while it is ongoing. Valid rows only (the
-- extract quarantines the rest), one per incident_id: the greatest updated_at, then the later
-- delivery, then the later row.
{{ config(materialized=incremental_by_key(), unique_key=['incident_id']) }}

with source as (
    select * from {{ source('ops', 'incidents') }}
    {{ changed_keys_only(source('ops', 'incidents'), 'incident_id') }}
),

deduplicated as (
    {{ deduplicate('source', 'incident_id',
        'updated_at desc, _delivery_file desc, _file_row desc') }}
),

final as (
    select
        incident_id,
        service_id,
        severity,
        is_outage,
        started_at,
        resolved_at,
        updated_at,
        _delivery_file
    from deduplicated
)

select * from final
