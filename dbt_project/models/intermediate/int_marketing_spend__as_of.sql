-- Marketing spend as of the run: rows whose anchor (spend_date) is at or after the cut-off are
-- left out.
with source_rows as (
    select * from {{ ref('stg_crm__marketing_spend') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

final as (
    select
        source_rows.channel,
        source_rows.spend_date,
        source_rows.region,
        source_rows.amount,
        source_rows.currency
    from source_rows
    cross join as_of
    where source_rows.spend_date <= as_of.as_of_date
)

select * from final
