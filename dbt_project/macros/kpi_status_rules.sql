{#- The status of a value against its target (README, "Targets with effective dates"):
    no_data without a value, no_target without a target, else green at or beyond the
    target in the KPI's direction, amber within |target| × amber tolerance of it, red
    beyond. One rule for every public table that judges a value: kpi_values and
    kpi_period_to_date must never disagree on what amber means. -#}
{% macro kpi_status(value, target, direction, amber_tolerance) -%}
    case
        when {{ value }} is null then 'no_data'
        when {{ target }} is null then 'no_target'
        when {{ direction }} = 'higher_is_better'
            then
                case
                    when {{ value }} >= {{ target }} then 'green'
                    when
                        {{ value }}
                        >= {{ target }} - abs({{ target }}) * coalesce({{ amber_tolerance }}, 0)
                        then 'amber'
                    else 'red'
                end
        else
            case
                when {{ value }} <= {{ target }} then 'green'
                when
                    {{ value }}
                    <= {{ target }} + abs({{ target }}) * coalesce({{ amber_tolerance }}, 0)
                    then 'amber'
                else 'red'
            end
    end
{%- endmacro %}

{#- The KPIs that are levels at the period's end rather than flows over it (registry
    `stock: true`, e.g. ticket_backlog): a window of months takes the last month's value,
    never their sum. -#}
{% macro kpi_stock_ids() -%}
    {%- set found = [] -%}
    {%- if execute -%}
        {%- for kpi_id in kpi_ids() -%}
            {%- set node = graph.nodes.get('model.kpi_warehouse.fct_kpi_' ~ kpi_id) -%}
            {%- if node is not none and node.config.meta.kpi.stock is defined
                and node.config.meta.kpi.stock -%}
                {%- do found.append(kpi_id) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(found) }}
{%- endmacro %}
