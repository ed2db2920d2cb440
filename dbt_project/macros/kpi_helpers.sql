{#- The grains every KPI is published at (README, The KPIs). -#}
{% macro kpi_grains() -%}
    {{ return(['day', 'week', 'month', 'quarter', 'year']) }}
{%- endmacro %}

{#- The KPI catalog: each id has a model fct_kpi_<id> whose YAML carries its governed
    definition (config.meta.kpi). kpi_values and kpi_definitions both read this list, and
    a data test checks it against the models that carry a definition. -#}
{% macro kpi_ids() -%}
    {{ return([
        'revenue', 'average_order_value', 'gross_margin_rate', 'cost_per_lead',
        'customer_retention_rate', 'csat_score', 'on_time_delivery_rate',
        'first_response_time_hours', 'sla_compliance_rate', 'lead_conversion_rate',
        'win_rate', 'ticket_backlog', 'order_completion_time_days', 'defect_rate',
        'service_availability', 'attendance_rate'
    ]) }}
{%- endmacro %}

{#- Microseconds since the epoch as an integer: durations are summed exactly, because
    parallel floating-point sums differ in their last bits from run to run. -#}
{% macro epoch_us(ts) -%}
    {{ return(adapter.dispatch('epoch_us', 'kpi_warehouse')(ts)) }}
{%- endmacro %}

{% macro default__epoch_us(ts) -%}
    cast(round(extract(epoch from {{ ts }}) * 1000000) as bigint)
{%- endmacro %}

{% macro duckdb__epoch_us(ts) -%}
    epoch_us({{ ts }})
{%- endmacro %}

{% macro spark__epoch_us(ts) -%}
    unix_micros(cast({{ ts }} as timestamp))
{%- endmacro %}

{#- The column types the KPI layer casts to, spelled the way each engine accepts: Spark
    has no bare VARCHAR and no DOUBLE PRECISION, PostgreSQL has no DOUBLE. -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'kpi_warehouse')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro spark__type_double() -%}
    double
{%- endmacro %}

{% macro type_text() -%}
    {{ return(adapter.dispatch('type_text', 'kpi_warehouse')()) }}
{%- endmacro %}

{% macro default__type_text() -%}
    varchar
{%- endmacro %}

{% macro spark__type_text() -%}
    string
{%- endmacro %}

{#- One row per day from `first_column` to `last_column` of the one-row relation
    `bounds`, as the timestamp `day_at` (midnight). -#}
{% macro calendar_days(bounds, first_column, last_column) -%}
    {{ return(adapter.dispatch('calendar_days', 'kpi_warehouse')(bounds, first_column, last_column)) }}
{%- endmacro %}

{% macro default__calendar_days(bounds, first_column, last_column) -%}
    select spine.day_at
    from {{ bounds }},
        generate_series(
            cast({{ bounds }}.{{ first_column }} as timestamp),
            cast({{ bounds }}.{{ last_column }} as timestamp),
            interval '1 day'
        ) as spine (day_at)
{%- endmacro %}

{% macro spark__calendar_days(bounds, first_column, last_column) -%}
    select cast(spine.day as timestamp) as day_at
    from {{ bounds }}
    lateral view explode(
        sequence(
            cast({{ bounds }}.{{ first_column }} as date),
            cast({{ bounds }}.{{ last_column }} as date),
            interval 1 day
        )
    ) spine as day
{%- endmacro %}

{#- The start of the period after the one starting at `period_start`. PostgreSQL's
    intervals know no quarter: a quarter is added as three months everywhere. -#}
{% macro next_period_start(grain, period_start) -%}
    {%- if grain == 'quarter' -%}
        {{ dbt.dateadd('month', 3, period_start) }}
    {%- else -%}
        {{ dbt.dateadd(grain, 1, period_start) }}
    {%- endif -%}
{%- endmacro %}

{#- An event timestamp at or after the cut-off has not happened yet: it reads as null.
    Expects the model to cross join int_as_of as `as_of`. -#}
{% macro before_cutoff(column) -%}
    case when {{ column }} < as_of.cutoff_at then {{ column }} end
{%- endmacro %}

{#- Sum `measures` of rows that already carry grain and period_start, for the whole
    company and for each dimension in one pass (grouping sets). Dimension columns must
    be non-null (null lookups are 'unknown' before they get here). -#}
{% macro kpi_slice_sums(by_grain, dimensions, measures) -%}
    select
        grain,
        period_start,
        case
            {%- for d in dimensions %}
            when grouping({{ d }}) = 0 then '{{ d }}'
            {%- endfor %}
            else 'all'
        end as dimension,
        case
            {%- for d in dimensions %}
            when grouping({{ d }}) = 0 then {{ d }}
            {%- endfor %}
            else 'all'
        end as dimension_value,
        {%- for m in measures %}
        sum({{ m }}) as {{ m }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ by_grain }}
    group by grouping sets (
        (grain, period_start)
        {%- for d in dimensions %}, (grain, period_start, {{ d }}){% endfor %}
    )
{%- endmacro %}

{#- Aggregate a flow KPI: `records` has one row per counted record with `event_at` (the
    timestamp or date that places it in a period), one non-null column per dimension,
    and its `numerator` and `denominator` contributions. Every grain is computed from
    the records of its own periods, never from a finer grain. -#}
{% macro kpi_flow(records, dimensions) -%}
    with by_grain as (
        {%- for grain in kpi_grains() %}
        select
            '{{ grain }}' as grain,
            cast({{ dbt.date_trunc(grain, 'event_at') }} as date) as period_start,
            {{ dimensions | join(', ') }}{{ ',' if dimensions }}
            numerator,
            denominator
        from {{ records }}
        {% if not loop.last %}union all{% endif %}
        {%- endfor %}
    )

    {{ kpi_slice_sums('by_grain', dimensions, ['numerator', 'denominator']) }}
{%- endmacro %}

{#- A Python value as a SQL literal: null, a number, or an escaped string. -#}
{% macro sql_literal(value) -%}
    {%- if value is none -%}null
    {%- elif value is number and value is not boolean -%}{{ value }}
    {%- else -%}'{{ dbt.escape_single_quotes(value | string) }}'
    {%- endif -%}
{%- endmacro %}
