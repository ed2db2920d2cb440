"""The same dbt project on other engines than DuckDB: PostgreSQL and Spark."""
