-- Share of scheduled work days (scheduled_hours > 0) in the period with a check-in;
-- department is the employee's ('unknown' when the employee is unknown).
with attendance as (
    select * from {{ ref('int_attendance__as_of') }}
),

employees as (
    select * from {{ ref('stg_ops__employees') }}
),

records as (
    select
        cast(attendance.work_date as timestamp) as event_at,
        coalesce(employees.department, 'unknown') as department,
        case when attendance.check_in_at is not null then 1 else 0 end as numerator,
        1 as denominator
    from attendance
    left join employees on attendance.employee_id = employees.employee_id
    where attendance.scheduled_hours > 0
),

final as (
    {{ kpi_flow('records', ['department']) }}
)

select * from final
