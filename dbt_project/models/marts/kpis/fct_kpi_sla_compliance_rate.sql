-- Share of tickets resolved in the period within their priority's resolution_hours;
-- tickets whose priority has no SLA policy are left out.
with tickets as (
    select * from {{ ref('int_tickets__as_of') }}
),

sla_policies as (
    select * from {{ ref('stg_crm__sla_policies') }}
),

records as (
    select
        tickets.resolved_at as event_at,
        coalesce(tickets.priority, 'unknown') as priority,
        coalesce(tickets.channel, 'unknown') as channel,
        case
            when {{ epoch_us('tickets.resolved_at') }} - {{ epoch_us('tickets.created_at') }}
                <= sla_policies.resolution_hours * 3600000000
                then 1
            else 0
        end as numerator,
        1 as denominator
    from tickets
    inner join sla_policies on tickets.priority = sla_policies.priority
    where tickets.resolved_at is not null
),

final as (
    {{ kpi_flow('records', ['priority', 'channel']) }}
)

select * from final
