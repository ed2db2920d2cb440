-- Marketing spend as of the run, converted to USD at the rate of its spend_date (exact
-- DECIMAL, its scale fixed so that every engine yields the same type); amount_usd is
-- null for a currency without any rate.
with spend as (
    select * from {{ ref('int_marketing_spend__as_of') }}
),

fx_rates as (
    select * from {{ ref('int_fx_rates__ranges') }}
),

final as (
    select
        spend.spend_date,
        spend.channel,
        spend.region,
        spend.amount,
        spend.currency,
        cast(
            spend.amount * case
                when spend.currency = 'USD' then cast(1 as decimal(18, 4))
                else fx_rates.usd_per_unit
            end
            as decimal(38, 8)
        ) as amount_usd
    from spend
    left join fx_rates
        on spend.currency = fx_rates.currency
            and (fx_rates.valid_from is null or spend.spend_date >= fx_rates.valid_from)
            and (fx_rates.valid_to is null or spend.spend_date < fx_rates.valid_to)
)

select * from final
