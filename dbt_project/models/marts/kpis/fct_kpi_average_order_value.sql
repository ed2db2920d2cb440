-- Revenue per qualifying order (an order without valid lines counts, with 0 revenue).
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
        revenue_usd as numerator,
        1 as denominator
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
        denominator
    from aggregated
)

select * from final
