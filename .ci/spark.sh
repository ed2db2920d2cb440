# Sourced by .ci/run: make the Spark equality test (tests/test_spark_target.py) run in
# `make test`. dbt-spark's session method needs Java 17 (.ci/run installs Debian's) and runs
# in its own virtual environment (.venv-spark, `make spark-env`), so pyspark and Great
# Expectations never share a process; the test calls that environment's dbt.

_kpi_spark_setup() {
  if ! command -v java >/dev/null 2>&1; then
    echo "spark: Java is missing (install openjdk-17-jre-headless, then rerun)" >&2
    return 1
  fi
  make spark-env
  export KPI_TEST_SPARK=1
  KPI_SPARK_VENV="$(pwd)/.venv-spark"
  export KPI_SPARK_VENV
  echo "spark: dbt-spark ready in $KPI_SPARK_VENV (KPI_TEST_SPARK=1 exported)"
}

_kpi_spark_setup
