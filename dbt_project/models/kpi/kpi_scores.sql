-- Roll-up scores: each perspective and the company per month, from the company-wide
-- monthly KPI values against their targets (method: the doc block kpi_scores_method).
{%- set cap = var('kpi_score_achievement_cap') %}

with kpi_values as (
    select * from {{ ref('kpi_values') }}
    where grain = 'month' and dimension = 'all'
),

weights as (
    select * from {{ ref('int_kpi_score_weights') }}
    where score_weight > 0
),

achievements as (
    select
        kpi_values.kpi_id,
        weights.perspective,
        weights.score_weight,
        kpi_values.period_start as month,
        kpi_values.is_complete,
        -- A target of zero or below has no ratio to reach; a lower-is-better value of zero
        -- or below beats any positive target.
        case
            when kpi_values.value is null or kpi_values.target is null then null
            when kpi_values.target <= 0 then null
            when weights.direction = 'lower_is_better' and kpi_values.value <= 0 then {{ cap }}
            when weights.direction = 'lower_is_better'
                then least(kpi_values.target / kpi_values.value, {{ cap }})
            else greatest(least(kpi_values.value / kpi_values.target, {{ cap }}), 0)
        end as achievement
    from kpi_values
    inner join weights
        on kpi_values.kpi_id = weights.kpi_id
),

scopes as (
    select
        'company' as scope,
        'all' as perspective,
        month,
        is_complete,
        score_weight,
        achievement
    from achievements
    union all
    select
        'perspective' as scope,
        perspective,
        month,
        is_complete,
        score_weight,
        achievement
    from achievements
),

scored as (
    select
        scope,
        perspective,
        month,
        min(case when is_complete then 1 else 0 end) = 1 as is_complete,
        count(*) as kpis_in_scope,
        count(achievement) as kpis_scored,
        coalesce(sum(case when achievement is not null then score_weight end), 0) as weight_scored,
        sum(score_weight * achievement)
        / nullif(sum(case when achievement is not null then score_weight end), 0)
            as weighted_achievement
    from scopes
    group by scope, perspective, month
),

rounded as (
    select
        scope,
        perspective,
        month,
        is_complete,
        kpis_in_scope,
        kpis_scored,
        weight_scored,
        -- least() skips nulls: a scope with nothing scored would score 100. Rounded half
        -- up to 0.01 by floor(), which every target database has for doubles.
        case
            when weighted_achievement is not null
                then floor(100 * least(100 * weighted_achievement, 100) + 0.5) / 100
        end as score
    from scored
),

final as (
    select
        cast(scope as {{ type_text() }}) as scope,
        cast(perspective as {{ type_text() }}) as perspective,
        cast(month as date) as month,
        cast(is_complete as boolean) as is_complete,
        cast(score as {{ type_double() }}) as score,
        cast(kpis_scored as integer) as kpis_scored,
        cast(kpis_in_scope as integer) as kpis_in_scope,
        cast(weight_scored as {{ type_double() }}) as weight_scored,
        cast(
            lag(score) over (partition by scope, perspective order by month)
            as {{ type_double() }}
        ) as previous_score
    from rounded
)

select * from final
