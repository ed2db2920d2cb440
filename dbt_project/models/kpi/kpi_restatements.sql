-- One row per complete period's key whose current value or status differs from the value
-- first reported for it (kpi_values_reported). A value change smaller than half the last
-- digit of the KPI's display precision (var restatement_decimals, by unit) is not a
-- restatement. reason: `definition` when the definition version changed, else `data` when
-- the value changed, else `target` (same value, another target or tolerance).
{%- set delivery_files = adapter.get_relation(
    database=target.database, schema='ingest', identifier='delivery_files'
) if execute else none %}

with current_values as (
    select * from {{ ref('kpi_values') }}
    where is_complete
),

reported as (
    select * from {{ ref('kpi_values_reported') }}
),

history as (
    select * from ({{ kpi_values_history_or_empty() }}) as versions
    where dbt_valid_to is null
),

definitions as (
    select
        kpi_id,
        unit,
        source_entities
    from {{ ref('kpi_definitions') }}
    where is_current
),

target_entries as (
    select * from {{ ref('kpi_targets') }}
    where dimension = 'all'
),

compared as (
    select
        current_values.kpi_id,
        current_values.grain,
        current_values.period_start,
        current_values.dimension,
        current_values.dimension_value,
        reported.value as reported_value,
        current_values.value as current_value,
        reported.status as reported_status,
        current_values.status as current_status,
        reported.target as reported_target,
        current_values.target as current_target,
        reported.definition_version as reported_version,
        current_values.definition_version as current_version,
        reported.reported_at,
        history.dbt_valid_from as restated_at,
        definitions.source_entities,
        case
            when (reported.value is null) <> (current_values.value is null) then true
            when reported.value is null then false
            else abs(current_values.value - reported.value)
                >= 0.5 * power(10.0, -({{ restatement_decimals_case('definitions.unit') }}))
        end as value_changed
    from current_values
    inner join reported
        on current_values.kpi_id = reported.kpi_id
            and current_values.grain = reported.grain
            and current_values.period_start = reported.period_start
            and current_values.dimension = reported.dimension
            and current_values.dimension_value = reported.dimension_value
    inner join definitions on current_values.kpi_id = definitions.kpi_id
    left join history
        on current_values.kpi_id = history.kpi_id
            and current_values.grain = history.grain
            and current_values.period_start = history.period_start
            and current_values.dimension = history.dimension
            and current_values.dimension_value = history.dimension_value
),

restated as (
    select
        compared.*,
        case
            when reported_version <> current_version then 'definition'
            when value_changed then 'data'
            else 'target'
        end as reason
    from compared
    where value_changed or reported_status <> current_status
),

{%- if delivery_files is not none %}

-- The delivery files of the KPI's source entities loaded between the report and now.
files_since as (
    select
        restated.kpi_id,
        restated.grain,
        restated.period_start,
        restated.dimension,
        restated.dimension_value,
        {{ dbt.listagg(
            "files.system || '/' || files.entity || '/' || files.delivery_file",
            "', '",
            "order by files.system, files.entity, files.delivery_file"
        ) }} as file_names
    from restated
    inner join {{ delivery_files }} as files
        on files.loaded_at > restated.reported_at
        and ',' || restated.source_entities || ',' like '%,' || files.system || '.' || files.entity || ',%'
    where restated.reason = 'data'
    group by 1, 2, 3, 4, 5
),
{%- else %}

files_since as (
    select
        kpi_id,
        grain,
        period_start,
        dimension,
        dimension_value,
        cast(null as {{ type_text() }}) as file_names
    from restated
    where false
),
{%- endif %}

final as (
    select
        cast(restated.kpi_id as {{ type_text() }}) as kpi_id,
        cast(restated.grain as {{ type_text() }}) as grain,
        cast(restated.period_start as date) as period_start,
        cast(restated.dimension as {{ type_text() }}) as dimension,
        cast(restated.dimension_value as {{ type_text() }}) as dimension_value,
        cast(restated.reported_value as {{ type_double() }}) as reported_value,
        cast(restated.current_value as {{ type_double() }}) as current_value,
        cast(restated.reported_status as {{ type_text() }}) as reported_status,
        cast(restated.current_status as {{ type_text() }}) as current_status,
        cast(restated.reported_at as timestamp) as reported_at,
        cast(restated.restated_at as timestamp) as restated_at,
        cast(restated.reason as {{ type_text() }}) as reason,
        cast(
            case restated.reason
                when 'definition'
                    then
                        'definition version '
                        || cast(restated.reported_version as {{ type_text() }})
                        || ' -> ' || cast(restated.current_version as {{ type_text() }})
                when 'data'
                    then
                        coalesce(
                            'delivery files loaded since: ' || files_since.file_names,
                            'no delivery file of its sources loaded since it was reported'
                        )
                else
                    'target entry from ' || cast(target_entries.effective_from as {{ type_text() }})
                    || ': target '
                    || coalesce(cast(restated.current_target as {{ type_text() }}), 'none')
                    || ' (reported against '
                    || coalesce(cast(restated.reported_target as {{ type_text() }}), 'none')
                    || ', amber tolerance '
                    || coalesce(cast(target_entries.amber_tolerance as {{ type_text() }}), 'none')
                    || '): ' || coalesce(target_entries.reason, '')
            end as {{ type_text() }}
        ) as detail
    from restated
    left join files_since
        on restated.kpi_id = files_since.kpi_id
            and restated.grain = files_since.grain
            and restated.period_start = files_since.period_start
            and restated.dimension = files_since.dimension
            and restated.dimension_value = files_since.dimension_value
    left join target_entries
        on restated.kpi_id = target_entries.kpi_id
            and target_entries.effective_from <= restated.period_start
            and (
                target_entries.effective_to is null
                or restated.period_start < target_entries.effective_to
            )
)

select * from final
