{#- The history of kpi.kpi_values: every state of every row ever published, one version per
    change (dbt_valid_from .. dbt_valid_to), with the run that published it. A row that
    disappears is closed (dbt_valid_to set), never deleted; so the values published at any
    moment T are the versions with dbt_valid_from <= T < coalesce(dbt_valid_to, infinity).
    run_id is not compared: a run that changes nothing adds nothing. -#}
{% snapshot kpi_values_history %}
{{
    config(
        unique_key=['kpi_id', 'grain', 'period_start', 'dimension', 'dimension_value'],
        strategy='check',
        check_cols=[
            'period_end', 'is_complete', 'numerator', 'denominator', 'value', 'target',
            'variance', 'status', 'previous_value', 'definition_version',
        ],
        hard_deletes='invalidate',
    )
}}
select
    kpi_values.*,
    cast({{ sql_literal(env_var('KPI_RUN_ID', '') or invocation_id) }} as {{ type_text() }})
        as run_id
from {{ ref('kpi_values') }} as kpi_values
{% endsnapshot %}
