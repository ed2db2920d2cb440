-- Tickets as of the run, placed in time by created_at: the record-level fact behind
-- first response time (integer microseconds, exact sums).
with tickets as (
    select * from {{ ref('int_tickets__as_of') }}
),

final as (
    select
        ticket_id,
        account_id,
        created_at,
        coalesce(priority, 'unknown') as priority,
        coalesce(channel, 'unknown') as channel,
        case when first_response_at is not null then 1 else 0 end as responded_tickets,
        case
            when first_response_at is not null
                then {{ epoch_us('first_response_at') }} - {{ epoch_us('created_at') }}
            else 0
        end as first_response_us
    from tickets
)

select * from final
