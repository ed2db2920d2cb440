-- One row per milestone of a key result (objective_id, key_result_id, milestone_date).
with source as (
    {{ goals_source_or_empty('milestones') }}
),

final as (
    select
        objective_id,
        key_result_id,
        milestone_date,
        expected_value,
        milestone_title
    from source
)

select * from final
