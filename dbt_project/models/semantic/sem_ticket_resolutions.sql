-- Tickets resolved as of the run, placed in time by resolved_at: the record-level fact
-- behind CSAT and SLA compliance. A ticket whose priority has no SLA policy counts for
-- neither SLA measure, as in fct_kpi_sla_compliance_rate.
with tickets as (
    select * from {{ ref('int_tickets__as_of') }}
),

sla_policies as (
    select * from {{ ref('stg_crm__sla_policies') }}
),

final as (
    select
        tickets.ticket_id,
        tickets.account_id,
        tickets.resolved_at,
        coalesce(tickets.priority, 'unknown') as priority,
        coalesce(tickets.channel, 'unknown') as channel,
        case when tickets.satisfaction_score is not null then 1 else 0 end as rated_tickets,
        coalesce(tickets.satisfaction_score, 0) as satisfaction_score,
        case when sla_policies.priority is not null then 1 else 0 end as sla_tickets,
        case
            when
                {{ epoch_us('tickets.resolved_at') }} - {{ epoch_us('tickets.created_at') }}
                <= sla_policies.resolution_hours * 3600000000
                then 1
            else 0
        end as sla_met_tickets
    from tickets
    left join sla_policies on tickets.priority = sla_policies.priority
    where tickets.resolved_at is not null
)

select * from final
