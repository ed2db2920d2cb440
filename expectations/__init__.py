"""Great Expectations suites as code: the data-quality gates of the KPI warehouse.

- ``quality.yml``: severities and thresholds (``KPI_QUALITY_CONFIG`` may point elsewhere).
- ``rules.py``: every rule as SQL that DuckDB runs; ``suites.py``: the GX suites.
- ``runner.py``: validation with a checkpoint, stored results, the Data Docs site.
- ``gx_duckdb.py``: the GX datasource that reads DuckDB results correctly.
- ``quality_state.py``: ``kpi.kpi_quality``, the quality state of every KPI period.

The Dagster checks that run them live in ``orchestration/quality/assets.py``.
"""
