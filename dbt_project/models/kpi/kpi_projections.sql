-- Year-end projections from the month rows of kpi_values, one per KPI, month and slice: the
-- method, range and probability are set out in the model's docs (_kpi__projections.yml).
-- Every month is projected only from its own year to date and earlier full years, so a past
-- month's row is what that month would have projected: the rows are their own backtest.
--
-- A level at a period's edge (ticket_backlog: open tickets at the end; customer retention:
-- accounts open at the start) does not add up over months, so a year's value is not made of
-- its months' and these KPIs are not projected.
{%- set stock_kpis = ['ticket_backlog', 'customer_retention_rate'] %}
-- Two-sided 90% normal interval.
{%- set z_90 = 1.6448536 %}

with definitions as (
    select * from {{ ref('kpi_definitions') }}
    where
        is_current
        and aggregation in ('sum', 'count', 'ratio', 'average')
        and kpi_id not in (
            {%- for kpi_id in stock_kpis %}
            {{ sql_literal(kpi_id) }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        )
),

kpi_values as (
    select * from {{ ref('kpi_values') }}
    where grain = 'month'
),

calendar as (
    select * from {{ ref('dim_calendar') }}
    where grain = 'month'
),

-- Revenue's monthly plan; a year's target for a sum is the sum of its twelve months.
plan as (
    select * from {{ ref('fct_kpi_targets') }}
    where grain = 'month'
),

months as (
    select
        kpi_values.kpi_id,
        kpi_values.dimension,
        kpi_values.dimension_value,
        kpi_values.period_start as month,
        cast(extract(year from kpi_values.period_start) as integer) as year,
        cast(extract(month from kpi_values.period_start) as integer) as month_of_year,
        kpi_values.is_complete,
        definitions.aggregation in ('ratio', 'average') as is_ratio,
        definitions.direction,
        kpi_values.numerator,
        kpi_values.denominator,
        kpi_values.target,
        -- The month holding the cut-off counts for the part of it that has passed.
        case
            when kpi_values.is_complete then 1.0
            else
                calendar.period_us
                / (
                    86400000000.0
                    * {{ dbt.datediff('calendar.period_start', 'calendar.period_end', 'day') }}
                )
        end as month_fraction
    from kpi_values
    inner join definitions on kpi_values.kpi_id = definitions.kpi_id
    inner join calendar on kpi_values.period_start = calendar.period_start
),

-- Earlier years usable for seasonality: all twelve months complete, and totals that are not
-- zero (a share of nothing is undefined).
full_years as (
    select
        kpi_id,
        dimension,
        dimension_value,
        year,
        sum(numerator) as numerator,
        sum(denominator) as denominator
    from months
    group by kpi_id, dimension, dimension_value, year
    having
        sum(case when is_complete then 1 else 0 end) = 12
        and sum(numerator) <> 0
        and (max(case when is_ratio then 1 else 0 end) = 0 or sum(denominator) <> 0)
),

history as (
    select
        projected.kpi_id,
        projected.dimension,
        projected.dimension_value,
        projected.year,
        count(*) as history_years,
        sum(full_years.numerator) as numerator,
        sum(full_years.denominator) as denominator
    from (
        select distinct
            kpi_id,
            dimension,
            dimension_value,
            year
        from months
    ) as projected
    inner join full_years
        on projected.kpi_id = full_years.kpi_id
            and projected.dimension = full_years.dimension
            and projected.dimension_value = full_years.dimension_value
            and full_years.year < projected.year
    group by projected.kpi_id, projected.dimension, projected.dimension_value, projected.year
),

-- Each calendar month's share of the earlier full years' totals, pooled over those years.
seasonal_weights as (
    select
        history.kpi_id,
        history.dimension,
        history.dimension_value,
        history.year,
        months.month_of_year,
        sum(months.numerator) / history.numerator as numerator_weight,
        sum(months.denominator) / history.denominator as denominator_weight
    from history
    inner join full_years
        on history.kpi_id = full_years.kpi_id
            and history.dimension = full_years.dimension
            and history.dimension_value = full_years.dimension_value
            and full_years.year < history.year
    inner join months
        on full_years.kpi_id = months.kpi_id
            and full_years.dimension = months.dimension
            and full_years.dimension_value = months.dimension_value
            and full_years.year = months.year
    group by
        history.kpi_id,
        history.dimension,
        history.dimension_value,
        history.year,
        months.month_of_year,
        history.numerator,
        history.denominator
),

weighted as (
    select
        months.*,
        coalesce(history.history_years, 0) as history_years,
        -- Run rate: every month weighs a twelfth.
        case
            when history.history_years is null then 1.0 / 12
            else seasonal_weights.numerator_weight
        end as numerator_weight,
        case
            when history.history_years is null then 1.0 / 12
            else seasonal_weights.denominator_weight
        end as denominator_weight
    from months
    left join history
        on months.kpi_id = history.kpi_id
            and months.dimension = history.dimension
            and months.dimension_value = history.dimension_value
            and months.year = history.year
    left join seasonal_weights
        on months.kpi_id = seasonal_weights.kpi_id
            and months.dimension = seasonal_weights.dimension
            and months.dimension_value = seasonal_weights.dimension_value
            and months.year = seasonal_weights.year
            and months.month_of_year = seasonal_weights.month_of_year
),

to_date as (
    select
        weighted.*,
        (month_of_year - 1) + month_fraction as months_elapsed,
        sum(numerator) over year_to_date as ytd_numerator,
        sum(denominator) over year_to_date as ytd_denominator,
        sum(numerator_weight) over year_to_date
        - numerator_weight * (1 - month_fraction) as numerator_share,
        sum(denominator_weight) over year_to_date
        - denominator_weight * (1 - month_fraction) as denominator_share
    from weighted
    window year_to_date as (
        partition by kpi_id, dimension, dimension_value, year
        order by month
        rows between unbounded preceding and current row
    )
),

projected as (
    select
        to_date.*,
        case
            when numerator_share > 0 then ytd_numerator / numerator_share
        end as projected_numerator,
        case
            when denominator_share > 0 then ytd_denominator / denominator_share
        end as projected_denominator
    from to_date
),

-- Month-to-month variability of the complete months to date: for a sum, each month's
-- relative deviation from what the method expected of it (the projected total times the
-- month's weight); for a ratio, the spread of the monthly values.
variability as (
    select
        projected.kpi_id,
        projected.dimension,
        projected.dimension_value,
        projected.month,
        stddev_samp(
            case
                when projected.is_ratio and earlier.denominator <> 0
                    then earlier.numerator / earlier.denominator
                when
                    not projected.is_ratio
                    and projected.projected_numerator * earlier.numerator_weight <> 0
                    then
                        earlier.numerator
                        / (projected.projected_numerator * earlier.numerator_weight)
                        - 1
            end
        ) as monthly_spread
    from projected
    inner join projected as earlier
        on projected.kpi_id = earlier.kpi_id
            and projected.dimension = earlier.dimension
            and projected.dimension_value = earlier.dimension_value
            and projected.year = earlier.year
            and earlier.month <= projected.month
            and earlier.is_complete
    group by projected.kpi_id, projected.dimension, projected.dimension_value, projected.month
),

year_plan as (
    select
        kpi_id,
        dimension,
        dimension_value,
        cast(extract(year from period_start) as integer) as year,
        sum(target) as target
    from plan
    group by kpi_id, dimension, dimension_value, cast(extract(year from period_start) as integer)
    having count(distinct period_start) = 12 and count(target) = 12
),

valued as (
    select
        projected.kpi_id,
        projected.month,
        projected.dimension,
        projected.dimension_value,
        projected.year,
        projected.direction,
        projected.months_elapsed,
        projected.history_years,
        case when projected.history_years > 0 then 'seasonal' else 'run_rate' end as method,
        case
            when not projected.is_ratio then projected.ytd_numerator
            when projected.ytd_denominator <> 0
                then projected.ytd_numerator / projected.ytd_denominator
        end as ytd_value,
        case
            when not projected.is_ratio then projected.projected_numerator
            when projected.projected_denominator <> 0
                then projected.projected_numerator / projected.projected_denominator
        end as projected_value,
        -- Remaining k = 12 - m months: their noise (spread / sqrt(k) of their mean) plus the
        -- error of the level estimated from the m months to date (spread / sqrt(m)).
        case
            when projected.months_elapsed >= 12 then 0.0
            when not projected.is_ratio
                then
                    abs(projected.projected_numerator - projected.ytd_numerator)
                    * variability.monthly_spread
                    * sqrt(1.0 / (12 - projected.months_elapsed) + 1.0 / projected.months_elapsed)
            else
                (1 - projected.denominator_share)
                * variability.monthly_spread
                * sqrt(1.0 / (12 - projected.months_elapsed) + 1.0 / projected.months_elapsed)
        end as sigma,
        case
            when not projected.is_ratio then year_plan.target
            else projected.target
        end as year_target
    from projected
    left join variability
        on projected.kpi_id = variability.kpi_id
            and projected.dimension = variability.dimension
            and projected.dimension_value = variability.dimension_value
            and projected.month = variability.month
    left join year_plan
        on projected.kpi_id = year_plan.kpi_id
            and projected.dimension = year_plan.dimension
            and projected.dimension_value = year_plan.dimension_value
            and projected.year = year_plan.year
),

-- z: how many standard deviations the projection is on the good side of the target.
scored as (
    select
        valued.*,
        case
            when sigma > 0 and direction = 'higher_is_better'
                then (projected_value - year_target) / sigma
            when sigma > 0 then (year_target - projected_value) / sigma
        end as z
    from valued
),

t_values as (
    select
        scored.*,
        1 / (1 + 0.2316419 * abs(z)) as t
    from scored
),

-- The standard normal distribution's upper tail beyond |z| by Abramowitz and Stegun 26.2.17
-- (absolute error below 7.5e-8): portable SQL has no erf. Beyond |z| = 37 the tail is 0 in
-- double precision; the exponent is capped there because PostgreSQL raises on underflow.
upper_tails as (
    select
        t_values.*,
        exp(-least(z * z, 1400) / 2) / 2.5066282746310002
        * (
            0.319381530 * t
            - 0.356563782 * t * t
            + 1.781477937 * t * t * t
            - 1.821255978 * t * t * t * t
            + 1.330274429 * t * t * t * t * t
        ) as upper_tail
    from t_values
),

tails as (
    select
        upper_tails.*,
        case
            when projected_value is null or year_target is null or sigma is null then null
            when sigma = 0 and direction = 'higher_is_better'
                then case when projected_value >= year_target then 1.0 else 0.0 end
            when sigma = 0 then case when projected_value <= year_target then 1.0 else 0.0 end
            when z >= 0 then 1 - upper_tail
            else upper_tail
        end as probability
    from upper_tails
),

final as (
    select
        cast(kpi_id as {{ type_text() }}) as kpi_id,
        cast(month as date) as month,
        cast(dimension as {{ type_text() }}) as dimension,
        cast(dimension_value as {{ type_text() }}) as dimension_value,
        cast(year as integer) as year,
        {{ projection_round('months_elapsed', 9) }} as months_elapsed,
        {{ projection_round('ytd_value', 9) }} as ytd_value,
        {{ projection_round('projected_value', 9) }} as projected_value,
        {{ projection_round('projected_value - ' ~ z_90 ~ ' * sigma', 9) }} as projected_low,
        {{ projection_round('projected_value + ' ~ z_90 ~ ' * sigma', 9) }} as projected_high,
        cast(year_target as {{ type_double() }}) as year_target,
        {{ projection_round('probability', 6) }} as probability_of_meeting_target,
        cast(method as {{ type_text() }}) as method,
        cast(history_years as integer) as history_years
    from tails
)

select * from final
