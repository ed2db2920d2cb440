-- Mean satisfaction score (1 to 5) of tickets resolved in the period that carry one.
with tickets as (
    select * from {{ ref('int_tickets__as_of') }}
),

records as (
    select
        resolved_at as event_at,
        coalesce(priority, 'unknown') as priority,
        coalesce(channel, 'unknown') as channel,
        satisfaction_score as numerator,
        1 as denominator
    from tickets
    where resolved_at is not null and satisfaction_score is not null
),

final as (
    {{ kpi_flow('records', ['priority', 'channel']) }}
)

select * from final
