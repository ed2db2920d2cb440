-- Progress on the company's goals: each key result's progress towards its target from the
-- KPI's latest complete month, each milestone's status, and each objective's progress
-- (method: the doc block goal_progress_method).
{%- set due_soon_days = var('goal_due_soon_days') %}

with key_results as (
    select * from {{ ref('stg_goals__key_results') }}
),

milestones as (
    select * from {{ ref('stg_goals__milestones') }}
),

kpi_values as (
    select * from {{ ref('kpi_values') }}
    where grain = 'month'
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

measured_months as (
    select
        key_results.objective_id,
        key_results.key_result_id,
        kpi_values.period_start as current_month,
        kpi_values.value as current_value,
        row_number() over (
            partition by key_results.objective_id, key_results.key_result_id
            order by kpi_values.period_start desc
        ) as recency
    from key_results
    inner join kpi_values
        on
            key_results.kpi_id = kpi_values.kpi_id
            and key_results.dimension = kpi_values.dimension
            and key_results.dimension_value = kpi_values.dimension_value
            -- Months of the objective's period up to the due one: after its due month a
            -- key result keeps the progress it reached.
            and kpi_values.period_start <= key_results.due_date
            and kpi_values.period_end > key_results.period_start
    where kpi_values.is_complete and kpi_values.value is not null
),

key_result_progress as (
    select
        key_results.*,
        measured_months.current_month,
        measured_months.current_value,
        -- The direction is start → target: a falling target progresses as the value falls.
        -- least() and greatest() skip nulls: without a value there is no progress.
        case
            when measured_months.current_value is not null
                then greatest(
                        least(
                            100 * (measured_months.current_value - key_results.start_value)
                            / (key_results.target_value - key_results.start_value),
                            100
                        ),
                        0
                    )
        end as progress
    from key_results
    left join measured_months
        on
            key_results.objective_id = measured_months.objective_id
            and key_results.key_result_id = measured_months.key_result_id
            and measured_months.recency = 1
),

objective_progress as (
    select
        objective_id,
        avg(progress) as objective_progress
    from key_result_progress
    group by objective_id
),

milestone_months as (
    select
        milestones.*,
        cast({{ dbt.date_trunc('month', 'milestones.milestone_date') }} as date) as milestone_month
    from milestones
),

milestone_values as (
    select
        milestone_months.objective_id,
        milestone_months.key_result_id,
        milestone_months.milestone_date,
        milestone_months.milestone_title,
        milestone_months.expected_value,
        -- The month's value is shown once the month is complete, when it is judged.
        case
            when
                cast({{ dbt.dateadd('month', 1, 'milestone_months.milestone_month') }} as date)
                <= cast({{ dbt.dateadd('day', 1, 'as_of.as_of_date') }} as date)
                then kpi_values.value
        end as milestone_value,
        -- Complete once the month ends on or before the cut-off (the day after the as-of
        -- date), whether or not the slice had records that month.
        cast({{ dbt.dateadd('month', 1, 'milestone_months.milestone_month') }} as date)
        <= cast({{ dbt.dateadd('day', 1, 'as_of.as_of_date') }} as date) as month_complete,
        milestone_months.milestone_date
        <= cast({{ dbt.dateadd('day', due_soon_days, 'as_of.as_of_date') }} as date) as due_soon
    from milestone_months
    inner join key_results
        on
            milestone_months.objective_id = key_results.objective_id
            and milestone_months.key_result_id = key_results.key_result_id
    cross join as_of
    left join kpi_values
        on
            key_results.kpi_id = kpi_values.kpi_id
            and key_results.dimension = kpi_values.dimension
            and key_results.dimension_value = kpi_values.dimension_value
            and milestone_months.milestone_month = kpi_values.period_start
),

joined as (
    select
        key_result_progress.*,
        objective_progress.objective_progress,
        milestone_values.milestone_date,
        milestone_values.milestone_title,
        milestone_values.expected_value,
        milestone_values.milestone_value,
        case
            when milestone_values.milestone_date is null then null
            when
                milestone_values.month_complete
                and milestone_values.milestone_value is not null
                and (
                    (
                        key_result_progress.target_value > key_result_progress.start_value
                        and milestone_values.milestone_value >= milestone_values.expected_value
                    )
                    or (
                        key_result_progress.target_value < key_result_progress.start_value
                        and milestone_values.milestone_value <= milestone_values.expected_value
                    )
                )
                then 'met'
            when milestone_values.month_complete then 'missed'
            when milestone_values.due_soon then 'due_soon'
            else 'upcoming'
        end as milestone_status
    from key_result_progress
    inner join objective_progress
        on key_result_progress.objective_id = objective_progress.objective_id
    left join milestone_values
        on
            key_result_progress.objective_id = milestone_values.objective_id
            and key_result_progress.key_result_id = milestone_values.key_result_id
),

final as (
    select
        cast(joined.objective_id as {{ type_text() }}) as objective_id,
        cast(joined.objective_title as {{ type_text() }}) as objective_title,
        cast(joined.objective_owner as {{ type_text() }}) as objective_owner,
        cast(joined.period_start as date) as objective_period_start,
        cast(joined.period_end as date) as objective_period_end,
        cast(joined.objective_progress as {{ type_double() }}) as objective_progress,
        cast(joined.key_result_id as {{ type_text() }}) as key_result_id,
        cast(joined.key_result_title as {{ type_text() }}) as key_result_title,
        cast(joined.kpi_id as {{ type_text() }}) as kpi_id,
        cast(joined.dimension as {{ type_text() }}) as dimension,
        cast(joined.dimension_value as {{ type_text() }}) as dimension_value,
        cast(joined.start_value as {{ type_double() }}) as start_value,
        cast(joined.target_value as {{ type_double() }}) as target_value,
        cast(joined.due_date as date) as due_date,
        cast(joined.current_month as date) as current_month,
        cast(joined.current_value as {{ type_double() }}) as current_value,
        cast(joined.progress as {{ type_double() }}) as progress,
        cast(joined.milestone_date as date) as milestone_date,
        cast(joined.milestone_title as {{ type_text() }}) as milestone_title,
        cast(joined.expected_value as {{ type_double() }}) as expected_value,
        cast(joined.milestone_value as {{ type_double() }}) as milestone_value,
        cast(joined.milestone_status as {{ type_text() }}) as milestone_status,
        cast(as_of.as_of_date as date) as as_of_date,
        cast(joined.goal_file as {{ type_text() }}) as goal_file
    from joined
    cross join as_of
)

select * from final
