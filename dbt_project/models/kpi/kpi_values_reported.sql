-- What was reported: for every complete period (every grain and slice), the row as first
-- published after the period closed, i.e. the oldest version in the history that has
-- is_complete = true. Later restatements never change it (see kpi_restatements).
-- depends_on: {{ ref('kpi_values') }}
with history as (
    {{ kpi_values_history_or_empty() }}
),

closed as (
    select
        history.*,
        row_number() over (
            partition by kpi_id, grain, period_start, dimension, dimension_value
            order by dbt_valid_from
        ) as publication_order
    from history
    where is_complete
),

final as (
    select
        cast(kpi_id as {{ type_text() }}) as kpi_id,
        cast(grain as {{ type_text() }}) as grain,
        cast(period_start as date) as period_start,
        cast(period_end as date) as period_end,
        cast(is_complete as boolean) as is_complete,
        cast(dimension as {{ type_text() }}) as dimension,
        cast(dimension_value as {{ type_text() }}) as dimension_value,
        cast(numerator as {{ type_double() }}) as numerator,
        cast(denominator as {{ type_double() }}) as denominator,
        cast(value as {{ type_double() }}) as value,
        cast(target as {{ type_double() }}) as target,
        cast(variance as {{ type_double() }}) as variance,
        cast(status as {{ type_text() }}) as status,
        cast(previous_value as {{ type_double() }}) as previous_value,
        cast(definition_version as integer) as definition_version,
        cast(dbt_valid_from as timestamp) as reported_at,
        cast(run_id as {{ type_text() }}) as run_id
    from closed
    where publication_order = 1
)

select * from final
