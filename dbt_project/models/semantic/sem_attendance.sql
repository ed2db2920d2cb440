-- Scheduled work days (scheduled_hours > 0) as of the run, placed in time by work_date:
-- the record-level fact behind attendance rate. department is the employee's
-- ('unknown' when the employee is unknown).
with attendance as (
    select * from {{ ref('int_attendance__as_of') }}
),

employees as (
    select * from {{ ref('stg_ops__employees') }}
),

final as (
    select
        attendance.employee_id || '/' || cast(attendance.work_date as {{ type_text() }})
            as attendance_day_id,
        attendance.employee_id,
        attendance.work_date,
        coalesce(employees.department, 'unknown') as department,
        coalesce(employees.team, 'unknown') as team,
        case when attendance.check_in_at is not null then 1 else 0 end as attended_days
    from attendance
    left join employees on attendance.employee_id = employees.employee_id
    where attendance.scheduled_hours > 0
)

select * from final
