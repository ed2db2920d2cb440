-- Share of opportunities closed in the period that were won; region and segment are
-- the opportunity's account's ('unknown' when the account is unknown as of the run).
with opportunities as (
    select * from {{ ref('int_opportunities__as_of') }}
),

accounts as (
    select * from {{ ref('int_accounts__as_of') }}
),

records as (
    select
        opportunities.closed_at as event_at,
        coalesce(accounts.region, 'unknown') as region,
        coalesce(accounts.segment, 'unknown') as segment,
        case when opportunities.stage = 'closed_won' then 1 else 0 end as numerator,
        1 as denominator
    from opportunities
    left join accounts on opportunities.account_id = accounts.account_id
    where
        opportunities.stage in ('closed_won', 'closed_lost')
        and opportunities.closed_at is not null
),

final as (
    {{ kpi_flow('records', ['region', 'segment']) }}
)

select * from final
