-- An estimate as a double rounded to `places` decimals: the digits beyond say nothing, and
-- rounding keeps the published value identical whatever order its floating-point sums ran in.
{% macro projection_round(expression, places) -%}
    cast(cast({{ expression }} as decimal(38, {{ places }})) as {{ type_double() }})
{%- endmacro %}
