-- Opportunities closed won or lost as of the run, placed in time by closed_at: the
-- record-level fact behind win rate. region and segment are the account's ('unknown'
-- when the account is unknown as of the run).
with opportunities as (
    select * from {{ ref('int_opportunities__as_of') }}
),

accounts as (
    select * from {{ ref('int_accounts__as_of') }}
),

final as (
    select
        opportunities.opportunity_id,
        opportunities.account_id,
        opportunities.closed_at,
        opportunities.stage,
        coalesce(accounts.region, 'unknown') as region,
        coalesce(accounts.segment, 'unknown') as segment,
        coalesce(accounts.industry, 'unknown') as industry,
        case when opportunities.stage = 'closed_won' then 1 else 0 end as won_opportunities
    from opportunities
    left join accounts on opportunities.account_id = accounts.account_id
    where
        opportunities.stage in ('closed_won', 'closed_lost')
        and opportunities.closed_at is not null
)

select * from final
