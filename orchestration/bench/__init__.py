"""The benchmark harness behind ``kpi-warehouse bench`` (see BENCHMARKS.md).

``harness`` measures; ``phases`` holds the entry points it starts as child processes, so
that interpreter start-up and imports count as they do for a user; ``floor.sql`` is the
hand-written DuckDB floor the pipeline is compared with.
"""
