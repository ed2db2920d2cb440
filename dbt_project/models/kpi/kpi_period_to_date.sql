-- Year and quarter to date as of each month, built from the month rows of kpi_values so
-- a window can never disagree with the months it is made of. Each KPI accumulates by its
-- own semantics: a sum or count adds its months; a ratio or average divides the summed
-- numerators by the summed denominators (an average of monthly rates would weigh a quiet
-- month like a busy one); a stock (registry `stock: true`, e.g. ticket_backlog) is a
-- level, so to date it is the month's own value.
{%- set stock_kpis = [] %}
{%- for kpi_id in kpi_stock_ids() %}{% do stock_kpis.append(sql_literal(kpi_id)) %}{% endfor %}

with months as (
    select * from {{ ref('kpi_values') }}
    where grain = 'month'
),

definitions as (
    select * from {{ ref('kpi_definitions') }}
    where is_current
),

-- kpi_values judges every slice with the tolerance of the company-wide entry in force on
-- the period's first day; the windows ending in a month are judged as that month is.
target_entries as (
    select * from {{ ref('kpi_targets') }}
    where dimension = 'all'
),

methods as (
    select
        kpi_id,
        direction,
        unit,
        case
            {%- if stock_kpis %}
            when kpi_id in ({{ stock_kpis | join(', ') }})
                then 'period_end'
            {%- endif %}
            when aggregation in ('sum', 'count') then 'sum'
            else 'ratio'
        end as to_date_method
    from definitions
),

-- Running totals inside each calendar year and quarter. A window ordered by month adds
-- its terms in one fixed order, so reruns give bit-identical doubles.
running as (
    select
        months.kpi_id,
        months.period_start as month,
        months.dimension,
        months.dimension_value,
        months.is_complete,
        months.definition_version,
        months.numerator,
        months.denominator,
        months.value,
        months.target,
        {% for w in ['ytd', 'qtd'] %}
        count(*) over {{ w }}_window as {{ w }}_months,
        count(months.target) over {{ w }}_window as {{ w }}_targeted_months,
        sum(months.numerator) over {{ w }}_window as {{ w }}_numerator_sum,
        sum(months.denominator) over {{ w }}_window as {{ w }}_denominator_sum,
        sum(months.target) over {{ w }}_window as {{ w }}_target_sum,
        min(months.target) over {{ w }}_window as {{ w }}_target_min,
        max(months.target) over {{ w }}_window as {{ w }}_target_max,
        sum(months.target * months.denominator) over {{ w }}_window as {{ w }}_target_weight,
        {% endfor %}
        cast({{ dbt.date_trunc('year', 'months.period_start') }} as date) as ytd_start,
        cast({{ dbt.date_trunc('quarter', 'months.period_start') }} as date) as qtd_start
    from months
    window
        ytd_window as (
            partition by
                months.kpi_id,
                months.dimension,
                months.dimension_value,
                {{ dbt.date_trunc('year', 'months.period_start') }}
            order by months.period_start
            rows between unbounded preceding and current row
        ),
        qtd_window as (
            partition by
                months.kpi_id,
                months.dimension,
                months.dimension_value,
                {{ dbt.date_trunc('quarter', 'months.period_start') }}
            order by months.period_start
            rows between unbounded preceding and current row
        )
),

accumulated as (
    select
        running.*,
        methods.direction,
        methods.unit,
        methods.to_date_method,
        {% for w in ['ytd', 'qtd'] %}
        case
            when methods.to_date_method = 'period_end' then running.numerator
            else running.{{ w }}_numerator_sum
        end as {{ w }}_numerator,
        case
            when methods.to_date_method = 'ratio' then running.{{ w }}_denominator_sum
        end as {{ w }}_denominator,
        case
            when methods.to_date_method = 'period_end' then running.value
            when methods.to_date_method = 'sum' then running.{{ w }}_numerator_sum
            when running.{{ w }}_denominator_sum <> 0
                then running.{{ w }}_numerator_sum / running.{{ w }}_denominator_sum
        end as {{ w }}_value,
        -- A window can be held to a target only if every month in it has one: a sum's
        -- is the sum of its months' targets, a ratio's the months' targets weighted by
        -- their denominators (the value the window reaches when every month meets its
        -- own target), a stock's the month's. Months sharing one target give it exactly:
        -- weighting it would only add rounding (0.29999999999999993 for 0.3).
        case
            when methods.to_date_method = 'period_end' then running.target
            when running.{{ w }}_targeted_months < running.{{ w }}_months then null
            when methods.to_date_method = 'sum' then running.{{ w }}_target_sum
            when running.{{ w }}_target_min = running.{{ w }}_target_max
                then running.{{ w }}_target_min
            when running.{{ w }}_denominator_sum <> 0
                then running.{{ w }}_target_weight / running.{{ w }}_denominator_sum
        end as {{ w }}_target,
        {% endfor %}
        target_entries.amber_tolerance
    from running
    inner join methods on running.kpi_id = methods.kpi_id
    left join target_entries
        on running.kpi_id = target_entries.kpi_id
            and target_entries.effective_from <= running.month
            and (
                target_entries.effective_to is null
                or running.month < target_entries.effective_to
            )
),

final as (
    select
        cast(kpi_id as {{ type_text() }}) as kpi_id,
        cast(month as date) as month,
        cast(dimension as {{ type_text() }}) as dimension,
        cast(dimension_value as {{ type_text() }}) as dimension_value,
        {% for w in ['ytd', 'qtd'] %}
        cast({{ w }}_value as {{ type_double() }}) as {{ w }}_value,
        cast({{ w }}_target as {{ type_double() }}) as {{ w }}_target,
        cast(
            {{ kpi_status(w ~ '_value', w ~ '_target', 'direction', 'amber_tolerance') }}
            as {{ type_text() }}
        ) as {{ w }}_status,
        {% endfor %}
        cast(is_complete as boolean) as is_complete,
        cast(unit as {{ type_text() }}) as unit,
        cast(direction as {{ type_text() }}) as direction,
        cast(to_date_method as {{ type_text() }}) as to_date_method,
        {% for w in ['ytd', 'qtd'] %}
        cast({{ w }}_start as date) as {{ w }}_start,
        cast({{ w }}_months as integer) as {{ w }}_months,
        cast({{ w }}_numerator as {{ type_double() }}) as {{ w }}_numerator,
        cast({{ w }}_denominator as {{ type_double() }}) as {{ w }}_denominator,
        {% endfor %}
        cast(amber_tolerance as {{ type_double() }}) as amber_tolerance,
        cast(definition_version as integer) as definition_version
    from accumulated
)

select * from final
