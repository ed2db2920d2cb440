-- Gross margin over the qualifying orders' lines of catalog products: numerator is
-- their revenue less quantity x unit_cost, denominator their revenue.
-- Incremental by period: a daily run rebuilds only the periods from the earliest date a
-- changed order touches, from the orders of the days since and the days before as built
-- (its pre-hook in dbt_project.yml, kpi_flow_from_days in macros/incremental.sql).
{{ config(materialized=incremental_by_key(), incremental_strategy='append') }}
with orders as (
    select * from {{ ref('fct_orders') }}
),

records as (
    select
        ordered_at as event_at,
        coalesce(region, 'unknown') as region,
        coalesce(channel, 'unknown') as channel,
        known_product_revenue_usd - known_product_cost_usd as numerator,
        known_product_revenue_usd as denominator
    from orders
    where status in ('placed', 'fulfilled') and is_convertible
),

aggregated as (
    {%- if is_incremental() %}
    {{ kpi_flow_from_days('records', ['region', 'channel'], 'fct_orders') }}
    {%- else %}
    {{ kpi_flow('records', ['region', 'channel']) }}
    {%- endif %}
),

-- Sums of exact amounts at one fixed scale, whatever scale an engine's sum returns.
final as (
    select
        grain,
        period_start,
        dimension,
        dimension_value,
        cast(numerator as decimal(38, 8)) as numerator,
        cast(denominator as decimal(38, 8)) as denominator
    from aggregated
)

select * from final
