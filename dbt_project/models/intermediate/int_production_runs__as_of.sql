-- Production runs as of the run: rows whose anchor (ended_at) is at or after the cut-off are
-- left out.
with source_rows as (
    select * from {{ ref('stg_ops__production_runs') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

final as (
    select
        source_rows.run_id,
        source_rows.ended_at,
        source_rows.plant,
        source_rows.product_id,
        source_rows.started_at,
        source_rows.units_produced,
        source_rows.units_defective
    from source_rows
    cross join as_of
    where source_rows.ended_at < as_of.cutoff_at
)

select * from final
