-- The run's time frame, one row: the as-of date (the run's, or else the latest UTC
-- date of any anchor of a valid, deduplicated row), the cut-off (00:00 UTC the day
-- after) and the earliest anchor date on or before the as-of date (the calendar's start).
{%- set anchors = [
    ('stg_crm__accounts', 'created_at'),
    ('stg_crm__leads', 'created_at'),
    ('stg_crm__opportunities', 'created_at'),
    ('stg_crm__tickets', 'created_at'),
    ('stg_crm__marketing_spend', 'spend_date'),
    ('stg_sales__orders', 'ordered_at'),
    ('stg_ops__shipments', 'shipped_at'),
    ('stg_ops__production_runs', 'ended_at'),
    ('stg_ops__incidents', 'started_at'),
    ('stg_ops__attendance', 'work_date'),
] %}
{%- set as_of_var = var('as_of', none) %}

with anchors as (
    {%- for model, column in anchors %}
    select cast({{ column }} as date) as anchor_date from {{ ref(model) }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

-- The SQL linter cannot place a whitespace-trimming Jinja tag inside a select list.
-- noqa: disable=LT02
bounds as (
    select
        {%- if as_of_var %}
        cast('{{ as_of_var }}' as date) as as_of_date,
        -- An as-of date before all data: the calendar is the periods holding it.
        coalesce(
            min(case when anchor_date <= cast('{{ as_of_var }}' as date) then anchor_date end),
            cast('{{ as_of_var }}' as date)
        ) as first_anchor_date
        {%- else %}
        max(anchor_date) as as_of_date,
        min(anchor_date) as first_anchor_date
        {%- endif %}
    from anchors
),
-- noqa: enable=LT02

final as (
    select
        as_of_date,
        cast({{ dbt.dateadd('day', 1, 'as_of_date') }} as timestamp) as cutoff_at,
        first_anchor_date
    from bounds
)

select * from final
