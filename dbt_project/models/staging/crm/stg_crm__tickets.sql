-- One row per support case. Valid rows only (the extract quarantines the rest), one per
-- ticket_id: the greatest updated_at, then the later delivery, then the later row.
{{ config(materialized=incremental_by_key(), unique_key=['ticket_id']) }}

with source as (
    select * from {{ source('crm', 'tickets') }}
    {{ changed_keys_only(source('crm', 'tickets'), 'ticket_id') }}
),

deduplicated as (
    {{ deduplicate('source', 'ticket_id', 'updated_at desc, _delivery_file desc, _file_row desc') }}
),

final as (
    select
        ticket_id,
        account_id,
        created_at,
        priority,
        channel,
        assignee_id,
        first_response_at,
        resolved_at,
        satisfaction_score,
        updated_at,
        _delivery_file
    from deduplicated
)

select * from final
