-- One row per employee per scheduled work day. Valid rows only (the extract quarantines the rest),
-- one per employee_id, work_date: the later delivery, then the later row.
{{ config(materialized=incremental_by_key(), unique_key=['employee_id', 'work_date']) }}

with source as (
    select * from {{ source('ops', 'attendance') }}
    {{ changed_keys_only(source('ops', 'attendance'), 'employee_id, work_date') }}
),

deduplicated as (
    {{ deduplicate('source', 'employee_id, work_date', '_delivery_file desc, _file_row desc') }}
),

final as (
    select
        employee_id,
        work_date,
        scheduled_hours,
        check_in_at,
        check_out_at,
        _delivery_file
    from deduplicated
)

select * from final
