-- Attendance as of the run: rows whose anchor (work_date) is at or after the cut-off are
-- left out, and event timestamps at or after it read as null (not happened yet).
with source_rows as (
    select * from {{ ref('stg_ops__attendance') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

final as (
    select
        source_rows.employee_id,
        source_rows.work_date,
        source_rows.scheduled_hours,
        source_rows.check_out_at,
        {{ before_cutoff('source_rows.check_in_at') }} as check_in_at
    from source_rows
    cross join as_of
    where source_rows.work_date <= as_of.as_of_date
)

select * from final
