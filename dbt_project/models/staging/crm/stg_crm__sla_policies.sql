-- One row per ticket priority: the service-level policy (reference data). Valid rows only (the
-- extract quarantines the rest), one per priority: the later delivery, then the later row.
{{ config(materialized=incremental_by_key(), unique_key=['priority']) }}

with source as (
    select * from {{ source('crm', 'sla_policies') }}
    {{ changed_keys_only(source('crm', 'sla_policies'), 'priority') }}
),

deduplicated as (
    {{ deduplicate('source', 'priority', '_delivery_file desc, _file_row desc') }}
),

final as (
    select
        priority,
        first_response_hours,
        resolution_hours,
        _delivery_file
    from deduplicated
)

select * from final
