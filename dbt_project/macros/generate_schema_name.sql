{#- Layers land in schemas named after them (staging, intermediate, marts, kpi), not in
    "<target schema>_<layer>": the public schema must be called exactly `kpi`. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
