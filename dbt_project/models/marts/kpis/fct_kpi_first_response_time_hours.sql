-- Mean hours from creation to first response of tickets created in the period that
-- have a first response. Summed as integer microseconds, converted once at the end.
with tickets as (
    select * from {{ ref('int_tickets__as_of') }}
),

records as (
    select
        created_at as event_at,
        coalesce(priority, 'unknown') as priority,
        coalesce(channel, 'unknown') as channel,
        {{ epoch_us('first_response_at') }} - {{ epoch_us('created_at') }} as numerator,
        1 as denominator
    from tickets
    where first_response_at is not null
),

aggregated as (
    {{ kpi_flow('records', ['priority', 'channel']) }}
),

final as (
    select
        grain,
        period_start,
        dimension,
        dimension_value,
        cast(numerator as {{ type_double() }}) / 3600000000 as numerator,
        denominator
    from aggregated
)

select * from final
