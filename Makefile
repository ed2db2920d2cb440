# Every target installs what it needs first, so each works on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast test-spark spark-env ui docs lint fingerprints bench

# The benchmark's scale: make bench SCALE=10 (BENCHMARKS.md).
SCALE ?= 1

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# dbt on Spark gets its own environment (dbt-core and the spark extra only): pyspark and
# Great Expectations never share a process. The tests call its dbt as a subprocess.
SPARK_VENV := .venv-spark
SPARK_STAMP := $(SPARK_VENV)/.installed

$(SPARK_STAMP): pyproject.toml .ci/spark-requirements.py
	$(PYTHON) -m venv $(SPARK_VENV)
	$(SPARK_VENV)/bin/pip install --quiet --upgrade pip
	$(PYTHON) .ci/spark-requirements.py > $(SPARK_VENV)/requirements.txt
	$(SPARK_VENV)/bin/pip install --quiet -r $(SPARK_VENV)/requirements.txt
	touch $(SPARK_STAMP)

spark-env: $(SPARK_STAMP)

demo: install
	$(BIN)/kpi-warehouse demo

# Test files run on TEST_WORKERS processes (pytest-xdist), each file whole on one of them;
# the files that share the PostgreSQL test database run on the same one (tests/conftest.py).
TEST_WORKERS ?= 2

test: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --durations=25

# The inner loop: unit tests and dbt unit tests, no pipeline runs or other dbt processes
# (under 2 minutes).
test-fast: install
	$(BIN)/python -m pytest -m "not slow" -n $(TEST_WORKERS) --dist loadgroup

# The KPIs built on DuckDB and on a local Spark from the same raw data must be equal (Java 17).
test-spark: install spark-env
	KPI_TEST_SPARK=1 KPI_SPARK_VENV=$(SPARK_VENV) $(BIN)/python -m pytest tests/test_spark_target.py

# Stage timings, peak memory and the ratio to the DuckDB floor, into var/bench/.
bench: install
	$(BIN)/kpi-warehouse bench --scale $(SCALE)

ui: install
	$(BIN)/kpi-warehouse ui

# The dbt docs (KPI definitions, lineage) and the Data Docs for a review, on loopback.
docs: install
	KPI_WAREHOUSE_PATH=$${KPI_WAREHOUSE_PATH:-var/demo/warehouse.duckdb} \
		$(BIN)/kpi-warehouse docs --regenerate --port 8080

# ruff for Python, sqlfluff for the dbt models (rendered by dbt against a scratch file).
lint: install
	$(BIN)/ruff check orchestration reports expectations tests
	$(BIN)/ruff format --check orchestration reports expectations tests
	mkdir -p var/lint
	KPI_WAREHOUSE_PATH=$(CURDIR)/var/lint/warehouse.duckdb $(BIN)/sqlfluff lint dbt_project/models dbt_project/tests dbt_project/snapshots

# After adding a definition version: record the new KPI fingerprints.
fingerprints: install
	$(BIN)/python -m orchestration.kpis.fingerprints update
