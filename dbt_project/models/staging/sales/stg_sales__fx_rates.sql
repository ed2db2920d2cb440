-- One row per date and currency: US dollars per one unit of the currency. Valid rows only (the
-- extract quarantines the rest), one per rate_date, currency: the later delivery, then the later
-- row.
{{ config(materialized=incremental_by_key(), unique_key=['rate_date', 'currency']) }}

with source as (
    select * from {{ source('sales', 'fx_rates') }}
    {{ changed_keys_only(source('sales', 'fx_rates'), 'rate_date, currency') }}
),

deduplicated as (
    {{ deduplicate('source', 'rate_date, currency', '_delivery_file desc, _file_row desc') }}
),

final as (
    select
        rate_date,
        currency,
        usd_per_unit,
        _delivery_file
    from deduplicated
)

select * from final
