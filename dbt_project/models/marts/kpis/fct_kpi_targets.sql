-- Targets that come from data rather than a KPI's default: revenue from the sales plan
-- (month rows as written, quarter and year the sum of every month row inside them,
-- future months included; 'all' sums every region) and each service's availability
-- target from the service catalog. Grain: one row per KPI, grain, period and slice
-- that has such a target.
with calendar as (
    select * from {{ ref('dim_calendar') }}
),

sales_targets as (
    select * from {{ ref('stg_sales__sales_targets') }}
),

services as (
    select * from {{ ref('stg_ops__services') }}
),

plan_months as (
    select
        calendar.grain,
        calendar.period_start,
        sales_targets.region,
        sales_targets.revenue_target
    from calendar
    inner join sales_targets
        on sales_targets.target_month >= calendar.period_start
            and sales_targets.target_month < calendar.period_end
    where calendar.grain in ('month', 'quarter', 'year')
),

revenue_targets as (
    select
        'revenue' as kpi_id,
        grain,
        period_start,
        case when grouping(region) = 0 then 'region' else 'all' end as dimension,
        case when grouping(region) = 0 then region else 'all' end as dimension_value,
        cast(sum(revenue_target) as {{ type_double() }}) as target
    from plan_months
    group by grouping sets ((grain, period_start), (grain, period_start, region))
),

service_targets as (
    select
        'service_availability' as kpi_id,
        calendar.grain,
        calendar.period_start,
        'service' as dimension,
        services.service_id as dimension_value,
        cast(services.availability_target as {{ type_double() }}) as target
    from calendar
    cross join services
),

final as (
    select * from revenue_targets
    union all
    select * from service_targets
)

select * from final
