-- Service availability: per catalog service and period, the period's length less the
-- union of its outage intervals [started_at, resolved_at or the cut-off) clipped to
-- the period (overlapping outages count once). Seconds, from integer microseconds.
with incidents as (
    select * from {{ ref('int_incidents__as_of') }}
),

services as (
    select * from {{ ref('stg_ops__services') }}
),

calendar as (
    select * from {{ ref('dim_calendar') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

outages as (
    select
        incidents.service_id,
        incidents.started_at,
        coalesce(incidents.resolved_at, as_of.cutoff_at) as ended_at
    from incidents
    inner join services on incidents.service_id = services.service_id
    cross join as_of
    where incidents.is_outage
),

reach as (
    select
        *,
        max(ended_at) over (
            partition by service_id
            order by started_at, ended_at
            rows between unbounded preceding and 1 preceding
        ) as covered_until
    from outages
),

islands as (
    select
        *,
        sum(case when covered_until is null or started_at > covered_until then 1 else 0 end)
            over (
                partition by service_id
                order by started_at, ended_at
                rows between unbounded preceding and current row
            ) as island
    from reach
),

merged as (
    select
        service_id,
        min(started_at) as started_at,
        max(ended_at) as ended_at
    from islands
    group by service_id, island
),

downtime as (
    select
        calendar.grain,
        calendar.period_start,
        merged.service_id,
        sum(
            {{ epoch_us('least(merged.ended_at, calendar.period_end_at)') }}
            - {{ epoch_us('greatest(merged.started_at, calendar.period_start_at)') }}
        ) as downtime_us
    from merged
    inner join calendar
        on merged.started_at < calendar.period_end_at
            and merged.ended_at > calendar.period_start_at
    group by calendar.grain, calendar.period_start, merged.service_id
),

per_service as (
    select
        calendar.grain,
        calendar.period_start,
        services.service_id,
        calendar.period_us,
        calendar.period_us - coalesce(downtime.downtime_us, 0) as up_us
    from calendar
    cross join services
    left join downtime
        on calendar.grain = downtime.grain
            and calendar.period_start = downtime.period_start
            and services.service_id = downtime.service_id
),

final as (
    select
        grain,
        period_start,
        'all' as dimension,
        'all' as dimension_value,
        cast(sum(up_us) as {{ type_double() }}) / 1000000 as numerator,
        cast(sum(period_us) as {{ type_double() }}) / 1000000 as denominator
    from per_service
    group by grain, period_start

    union all

    select
        grain,
        period_start,
        'service' as dimension,
        service_id as dimension_value,
        cast(up_us as {{ type_double() }}) / 1000000 as numerator,
        cast(period_us as {{ type_double() }}) / 1000000 as denominator
    from per_service
)

select * from final
