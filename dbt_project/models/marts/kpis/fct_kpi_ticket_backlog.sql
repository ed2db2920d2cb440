-- Open tickets at the end of each period (a level, not a flow): tickets created
-- before the period's end and not resolved before it. Computed as the running sum of
-- openings (+1 at created_at) and resolutions (-1 at resolved_at) up to the period.
with tickets as (
    select * from {{ ref('int_tickets__as_of') }}
),

calendar as (
    select * from {{ ref('dim_calendar') }}
),

records as (
    select
        created_at as event_at,
        coalesce(priority, 'unknown') as priority,
        coalesce(channel, 'unknown') as channel,
        1 as numerator,
        cast(null as bigint) as denominator
    from tickets

    union all

    select
        resolved_at as event_at,
        coalesce(priority, 'unknown') as priority,
        coalesce(channel, 'unknown') as channel,
        -1 as numerator,
        cast(null as bigint) as denominator
    from tickets
    where resolved_at is not null
),

net_changes as (
    {{ kpi_flow('records', ['priority', 'channel']) }}
),

slices as (
    select distinct
        dimension,
        dimension_value
    from net_changes
),

final as (
    select
        calendar.grain,
        calendar.period_start,
        slices.dimension,
        slices.dimension_value,
        sum(coalesce(net_changes.numerator, 0)) over (
            partition by calendar.grain, slices.dimension, slices.dimension_value
            order by calendar.period_start
            rows between unbounded preceding and current row
        ) as numerator,
        cast(null as bigint) as denominator
    from calendar
    cross join slices
    left join net_changes
        on calendar.grain = net_changes.grain
            and calendar.period_start = net_changes.period_start
            and slices.dimension = net_changes.dimension
            and slices.dimension_value = net_changes.dimension_value
)

select * from final
