-- Orders as of the run, one row each, placed in time by ordered_at: the record-level
-- fact behind revenue, average order value and gross margin in the semantic layer. The
-- *_qualifying columns carry what an order adds to those KPIs (placed or fulfilled, in a
-- currency with a rate; 0 otherwise), so any grouping sums the same records as
-- fct_kpi_revenue and its siblings.
with orders as (
    select * from {{ ref('fct_orders') }}
),

accounts as (
    select * from {{ ref('int_accounts__as_of') }}
),

flagged as (
    select
        orders.*,
        orders.status in ('placed', 'fulfilled') and orders.is_convertible as is_qualifying
    from orders
),

final as (
    select
        flagged.order_id,
        flagged.account_id,
        flagged.ordered_at,
        coalesce(flagged.region, 'unknown') as region,
        coalesce(flagged.channel, 'unknown') as channel,
        flagged.status,
        flagged.currency,
        coalesce(accounts.segment, 'unknown') as segment,
        coalesce(accounts.industry, 'unknown') as industry,
        case when flagged.is_qualifying then 1 else 0 end as qualifying_orders,
        case
            when flagged.is_qualifying then flagged.revenue_usd
            else cast(0 as decimal(38, 8))
        end as qualifying_revenue_usd,
        case
            when flagged.is_qualifying then flagged.known_product_revenue_usd
            else cast(0 as decimal(38, 8))
        end as qualifying_known_product_revenue_usd,
        case
            when flagged.is_qualifying
                then flagged.known_product_revenue_usd - flagged.known_product_cost_usd
            else cast(0 as decimal(38, 8))
        end as qualifying_known_product_margin_usd
    from flagged
    left join accounts on flagged.account_id = accounts.account_id
)

select * from final
