{#- The dated target entries of every KPI, from its registry entry (config.meta.kpi.targets),
    oldest first, each with the day the next one takes over (none for the newest) and the
    definition version in force when it took effect (the first version for entries older
    than every version). A KPI without a `targets` list has one entry from its
    default_target, amber_tolerance and target_reason, in force for all history. -#}
{% macro kpi_target_entries() -%}
    {%- set entries = [] -%}
    {%- if execute -%}
        {%- for kpi_id in kpi_ids() -%}
            {%- set node = graph.nodes.get('model.kpi_warehouse.fct_kpi_' ~ kpi_id) -%}
            {%- set kpi = node.config.meta.kpi -%}
            {%- set listed = kpi.targets if kpi.targets is defined and kpi.targets else [{
                'effective_from': '2000-01-01', 'target': kpi.default_target,
                'amber_tolerance': kpi.amber_tolerance, 'reason': kpi.target_reason}] -%}
            {%- set dated = listed | sort(attribute='effective_from') -%}
            {%- set versions = kpi.versions | sort(attribute='version') -%}
            {%- for entry in dated -%}
                {%- set starts = entry.effective_from | string -%}
                {%- set ns = namespace(version=versions[0].version) -%}
                {%- for v in versions if (v.effective_from | string) <= starts -%}
                    {%- set ns.version = v.version -%}
                {%- endfor -%}
                {%- do entries.append({
                    'kpi_id': kpi_id,
                    'target_source': kpi.target_source,
                    'effective_from': starts,
                    'effective_to': (dated[loop.index].effective_from | string) if not loop.last else none,
                    'target': entry.target,
                    'amber_tolerance': entry.amber_tolerance,
                    'reason': entry.reason,
                    'definition_version': ns.version,
                }) -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(entries) }}
{%- endmacro %}

{#- The digits after the point below which a change of a published value is not a
    restatement, by unit: the var `restatement_decimals` in dbt_project.yml. Values are
    compared rounded to these digits (ratios as fractions: 3 digits is 0.1 percentage
    point). -#}
{% macro restatement_decimals_case(unit_column) -%}
    case {{ unit_column }}
    {%- for unit, digits in var('restatement_decimals').items() %}
        when '{{ unit }}' then {{ digits }}
    {%- endfor %}
        else 6
    end
{%- endmacro %}

{#- The history snapshot, or an empty relation of its columns before its first run: a
    plain `dbt run` (no snapshot) on a new warehouse still builds the reported values and
    restatements, empty. -#}
{% macro kpi_values_history_or_empty() -%}
    {%- set history = ref('kpi_values_history') -%}
    {#- A unit test's mock is a CTE (no schema): it always exists. -#}
    {%- set found = adapter.get_relation(
        database=history.database, schema=history.schema, identifier=history.identifier
    ) if execute and history.schema else history -%}
    {%- if found is not none -%}
    select * from {{ history }}
    {%- else -%}
    select
        kpi_values.*,
        cast(null as {{ type_text() }}) as run_id,
        cast(null as timestamp) as dbt_valid_from,
        cast(null as timestamp) as dbt_valid_to
    from {{ ref('kpi_values') }} as kpi_values
    where false
    {%- endif -%}
{%- endmacro %}
