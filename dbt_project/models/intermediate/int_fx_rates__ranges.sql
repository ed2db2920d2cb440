-- Each fx rate with the dates it applies to: from its rate_date (the earliest rate of a
-- currency from the beginning of time, so that a date before any rate takes the
-- earliest one) up to the next rate_date. USD is always 1 and takes no row here.
with rates as (
    select * from {{ ref('stg_sales__fx_rates') }}
    where currency <> 'USD'
),

ranged as (
    select
        currency,
        rate_date,
        usd_per_unit,
        row_number() over (partition by currency order by rate_date) as rate_rank,
        lead(rate_date) over (partition by currency order by rate_date) as next_rate_date
    from rates
),

final as (
    select
        currency,
        rate_date,
        usd_per_unit,
        case when rate_rank > 1 then rate_date end as valid_from,
        next_rate_date as valid_to
    from ranged
)

select * from final
