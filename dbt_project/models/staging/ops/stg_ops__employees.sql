-- One row per employee. Valid rows only (the extract quarantines the rest), one per
-- employee_id: the greatest updated_at, then the later delivery, then the later row.
{{ config(materialized=incremental_by_key(), unique_key=['employee_id']) }}

with source as (
    select * from {{ source('ops', 'employees') }}
    {{ changed_keys_only(source('ops', 'employees'), 'employee_id') }}
),

deduplicated as (
    {{ deduplicate('source', 'employee_id',
        'updated_at desc, _delivery_file desc, _file_row desc') }}
),

final as (
    select
        employee_id,
        full_name,
        department,
        team,
        region,
        manager_id,
        hired_at,
        terminated_at,
        updated_at,
        _delivery_file
    from deduplicated
)

select * from final
