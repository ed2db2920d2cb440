-- Orders as of the run: rows whose anchor (ordered_at) is at or after the cut-off are
-- left out, and event timestamps at or after it read as null (not happened yet).
with source_rows as (
    select * from {{ ref('stg_sales__orders') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

final as (
    select
        source_rows.order_id,
        source_rows.ordered_at,
        source_rows.account_id,
        source_rows.status,
        source_rows.channel,
        source_rows.region,
        source_rows.sales_rep_id,
        source_rows.currency,
        {{ before_cutoff('source_rows.fulfilled_at') }} as fulfilled_at
    from source_rows
    cross join as_of
    where source_rows.ordered_at < as_of.cutoff_at
)

select * from final
