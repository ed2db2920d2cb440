-- One row per day, marketing channel and region: the money spent. Valid rows only (the extract
-- quarantines the rest), one per spend_date, channel, region: the later delivery, then the later
-- row.
{{ config(materialized=incremental_by_key(), unique_key=['spend_date', 'channel', 'region']) }}

with source as (
    select * from {{ source('crm', 'marketing_spend') }}
    {{ changed_keys_only(source('crm', 'marketing_spend'), 'spend_date, channel, region') }}
),

deduplicated as (
    {{ deduplicate('source', 'spend_date, channel, region',
        '_delivery_file desc, _file_row desc') }}
),

final as (
    select
        spend_date,
        channel,
        region,
        amount,
        currency,
        _delivery_file
    from deduplicated
)

select * from final
