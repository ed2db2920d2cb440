-- One row per date and currency: US dollars per one unit of the currency. Valid rows only (the
-- extract quarantines the rest), one per rate_date, currency: the later delivery, then the later
-- row.
with source as (
    select * from {{ source('sales', 'fx_rates') }}
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
