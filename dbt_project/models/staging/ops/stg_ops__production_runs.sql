-- One row per production run of a plant. Valid rows only (the extract quarantines the rest), one
-- per run_id: the greatest updated_at, then the later delivery, then the later row.
{{ config(materialized=incremental_by_key(), unique_key=['run_id']) }}

with source as (
    select * from {{ source('ops', 'production_runs') }}
    {{ changed_keys_only(source('ops', 'production_runs'), 'run_id') }}
),

deduplicated as (
    {{ deduplicate('source', 'run_id', 'updated_at desc, _delivery_file desc, _file_row desc') }}
),

final as (
    select
        run_id,
        plant,
        product_id,
        started_at,
        ended_at,
        units_produced,
        units_defective,
        updated_at,
        _delivery_file
    from deduplicated
)

select * from final
