-- Customer retention per period [s, e): of the accounts active at s (created before s,
-- not churned before s), the share still not churned at e. Computed from running sums
-- of account openings and churns; `lost` counts churns in the period of accounts
-- created before its start (the ones the denominator holds).
with accounts as (
    select * from {{ ref('int_accounts__as_of') }}
),

calendar as (
    select * from {{ ref('dim_calendar') }}
),

by_grain as (
    {%- for grain in kpi_grains() %}
    select
        '{{ grain }}' as grain,
        cast({{ dbt.date_trunc(grain, 'created_at') }} as date) as period_start,
        coalesce(region, 'unknown') as region,
        coalesce(segment, 'unknown') as segment,
        1 as opened,
        0 as churned,
        0 as lost
    from accounts

    union all

    select
        '{{ grain }}' as grain,
        cast({{ dbt.date_trunc(grain, 'churned_at') }} as date) as period_start,
        coalesce(region, 'unknown') as region,
        coalesce(segment, 'unknown') as segment,
        0 as opened,
        1 as churned,
        case
            when {{ dbt.date_trunc(grain, 'created_at') }}
                < {{ dbt.date_trunc(grain, 'churned_at') }}
                then 1
            else 0
        end as lost
    from accounts
    where churned_at is not null
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

changes as (
    {{ kpi_slice_sums('by_grain', ['region', 'segment'], ['opened', 'churned', 'lost']) }}
),

slices as (
    select distinct
        dimension,
        dimension_value
    from changes
),

active_at_start as (
    select
        calendar.grain,
        calendar.period_start,
        slices.dimension,
        slices.dimension_value,
        coalesce(sum(coalesce(changes.opened, 0) - coalesce(changes.churned, 0)) over (
            partition by calendar.grain, slices.dimension, slices.dimension_value
            order by calendar.period_start
            rows between unbounded preceding and 1 preceding
        ), 0) as active,
        coalesce(changes.lost, 0) as lost
    from calendar
    cross join slices
    left join changes
        on calendar.grain = changes.grain
            and calendar.period_start = changes.period_start
            and slices.dimension = changes.dimension
            and slices.dimension_value = changes.dimension_value
),

final as (
    select
        grain,
        period_start,
        dimension,
        dimension_value,
        active - lost as numerator,
        active as denominator
    from active_at_start
)

select * from final
