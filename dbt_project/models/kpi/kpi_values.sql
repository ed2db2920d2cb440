-- The published KPI values: every KPI, grain and calendar period for the whole company,
-- and for each slice a row in every period (a slice without records reads 0 for a sum
-- or count, numerator = denominator = 0 and a null value for a ratio). The dense grid
-- makes previous_value simply the preceding calendar period's value.
with definitions as (
    select * from {{ ref('kpi_definitions') }}
    where is_current
),

calendar as (
    select * from {{ ref('dim_calendar') }}
),

targets as (
    select * from {{ ref('fct_kpi_targets') }}
),

-- The company-wide dated entries; a period uses the one in force on its first day.
target_entries as (
    select * from {{ ref('kpi_targets') }}
    where dimension = 'all'
),

results as (
    {%- for kpi_id in kpi_ids() %}
    select
        '{{ kpi_id }}' as kpi_id,
        grain,
        period_start,
        dimension,
        dimension_value,
        cast(numerator as {{ type_double() }}) as numerator,
        cast(denominator as {{ type_double() }}) as denominator
    from {{ ref('fct_kpi_' ~ kpi_id) }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

slices as (
    select distinct
        kpi_id,
        dimension,
        dimension_value
    from results
    where dimension <> 'all'

    union all

    select
        kpi_id,
        'all' as dimension,
        'all' as dimension_value
    from definitions
),

grid as (
    select
        slices.kpi_id,
        calendar.grain,
        calendar.period_start,
        calendar.period_end,
        calendar.is_complete,
        slices.dimension,
        slices.dimension_value
    from slices
    cross join calendar
),

filled as (
    select
        grid.*,
        definitions.direction,
        definitions.aggregation,
        definitions.target_source,
        definitions.definition_version,
        coalesce(results.numerator, 0) as numerator,
        case
            when definitions.aggregation in ('sum', 'count') then null
            else coalesce(results.denominator, 0)
        end as denominator
    from grid
    inner join definitions on grid.kpi_id = definitions.kpi_id
    left join results
        on grid.kpi_id = results.kpi_id
            and grid.grain = results.grain
            and grid.period_start = results.period_start
            and grid.dimension = results.dimension
            and grid.dimension_value = results.dimension_value
),

valued as (
    select
        filled.*,
        case
            when denominator is null then numerator
            when denominator = 0 then null
            else numerator / denominator
        end as value
    from filled
),

targeted as (
    select
        valued.*,
        case
            when valued.target_source = 'sales_targets' then targets.target
            when valued.target_source = 'service_catalog' and valued.dimension = 'service'
                then targets.target
            -- A company-wide level says nothing about one slice's share of a sum or count.
            when valued.dimension <> 'all' and valued.aggregation in ('sum', 'count') then null
            else target_entries.target
        end as target,
        target_entries.amber_tolerance
    from valued
    left join target_entries
        on valued.kpi_id = target_entries.kpi_id
            and target_entries.effective_from <= valued.period_start
            and (
                target_entries.effective_to is null
                or valued.period_start < target_entries.effective_to
            )
    left join targets
        on valued.kpi_id = targets.kpi_id
            and valued.grain = targets.grain
            and valued.period_start = targets.period_start
            and valued.dimension = targets.dimension
            and valued.dimension_value = targets.dimension_value
),

final as (
    select
        kpi_id,
        grain,
        period_start,
        period_end,
        is_complete,
        dimension,
        dimension_value,
        numerator,
        denominator,
        value,
        target,
        value - target as variance,
        {{ kpi_status('value', 'target', 'direction', 'amber_tolerance') }} as status,
        lag(value) over (
            partition by kpi_id, grain, dimension, dimension_value
            order by period_start
        ) as previous_value,
        definition_version
    from targeted
)

select * from final
