-- One row per key result of the goal files (objective_id, key_result_id), with its
-- objective's title, owner and period.
with source as (
    {{ goals_source_or_empty('key_results') }}
),

final as (
    select
        goal_file,
        objective_id,
        objective_title,
        objective_owner,
        period_start,
        period_end,
        key_result_id,
        key_result_title,
        kpi_id,
        dimension,
        dimension_value,
        start_value,
        target_value,
        due_date
    from source
)

select * from final
