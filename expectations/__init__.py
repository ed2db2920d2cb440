"""Great Expectations suites as code: the data-quality gates of the KPI warehouse.

- ``quality.yml``: severities and thresholds (``KPI_QUALITY_CONFIG`` may point elsewhere).
- every rule as SQL that DuckDB runs: ``entity_rules.py`` (the landing entities) and
  ``kpi_rules.py`` (the KPI outputs), built from ``entity_dates.py`` (how a record is
  dated) and ``rule_sql.py`` (SQL literals); ``rules.py``: the ``Rule`` type they share.
- ``suites.py``: the GX suites.
- ``runner.py``: validation with a checkpoint, stored results, the Data Docs site.
- ``gx_duckdb.py``: the GX datasource that reads DuckDB results correctly.
- ``quality_state.py``: ``kpi.kpi_quality``, the quality state of every KPI period.

The Dagster checks that run them live in ``orchestration/quality/assets.py``.
"""
