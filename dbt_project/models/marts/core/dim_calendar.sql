-- Every period of every grain from the one holding the earliest anchor date to the one
-- holding the as-of date. A period's span runs from period_start up to the earlier of
-- period_end and the cut-off; its length (period_us) is that span's.
with as_of as (
    select * from {{ ref('int_as_of') }}
),

days as (
    {{ calendar_days('as_of', 'first_anchor_date', 'as_of_date') }}
),

periods as (
    {%- for grain in kpi_grains() %}
    select distinct
        '{{ grain }}' as grain,
        cast({{ dbt.date_trunc(grain, 'day_at') }} as date) as period_start,
        cast({{ next_period_start(grain, dbt.date_trunc(grain, 'day_at')) }} as date) as period_end
    from days
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

final as (
    select
        periods.grain,
        periods.period_start,
        periods.period_end,
        cast(periods.period_start as timestamp) as period_start_at,
        least(cast(periods.period_end as timestamp), as_of.cutoff_at) as period_end_at,
        cast(periods.period_end as timestamp) <= as_of.cutoff_at as is_complete,
        {{ epoch_us('least(cast(periods.period_end as timestamp), as_of.cutoff_at)') }}
        - {{ epoch_us('cast(periods.period_start as timestamp)') }} as period_us
    from periods
    cross join as_of
)

select * from final
