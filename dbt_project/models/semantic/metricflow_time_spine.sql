-- MetricFlow's day time spine: every day of the run's calendar, from the one holding the
-- earliest anchor date to the as-of date.
with calendar as (
    select * from {{ ref('dim_calendar') }}
),

final as (
    select cast(period_start as date) as date_day
    from calendar
    where grain = 'day'
)

select * from final
