"""The public ``kpi`` tables that Python writes, held to their dbt declaration.

``kpi.kpi_quality`` and ``kpi.kpi_alerts`` are written after ``dbt build`` by the quality
and alerting steps, so dbt cannot enforce a model contract on them. They are declared
as the dbt source ``kpi_python`` (dbt_project/models/kpi/_kpi__python_sources.yml) instead,
and held to it twice:

- the step that writes a table compares its columns and types with the declaration
  (``check_declared_columns``) and fails on any drift, before anything reads it;
- the declared data tests run as blocking Dagster checks on the table's asset
  (``kpi_python_source_tests``, one ``dbt test`` for the tables written, run inside the
  step's own process), so a table that breaks them is not published.
"""

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource

from orchestration.keys import dbt_model_asset_key
from orchestration.kpis.dbt_tests import dbt_test_description
from orchestration.kpis.project import (
    NO_ARTIFACTS,
    ensure_manifest,
    run_dbt_in_process,
    warehouse_target_path,
)
from orchestration.resources import WarehouseResource

PYTHON_SOURCE = "kpi_python"
# The dbt build leaves these tests out: the tables do not exist yet when it runs.
PYTHON_SOURCE_SELECTION = f"source:{PYTHON_SOURCE}+"
DECLARATION = "dbt_project/models/kpi/_kpi__python_sources.yml"


@cache
def _manifest() -> Mapping[str, Any]:
    return json.loads(ensure_manifest().read_text(encoding="utf-8"))


def _source(table: str) -> Mapping[str, Any]:
    for source in _manifest()["sources"].values():
        if source["source_name"] == PYTHON_SOURCE and source["name"] == table:
            return source
    raise KeyError(f"The dbt source {PYTHON_SOURCE} declares no table {table} ({DECLARATION}).")


def declared_columns(table: str) -> list[tuple[str, str]]:
    """The (column, type) pairs the dbt source declares for ``kpi.<table>``, in order."""
    return [
        (name, (column.get("data_type") or "").lower())
        for name, column in _source(table)["columns"].items()
    ]


def written_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list:
    rows = con.execute(
        "select column_name, lower(data_type) from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()
    return [(name, sql_type) for name, sql_type in rows]


def column_drift(declared: list[tuple[str, str]], written: list[tuple[str, str]]) -> list[str]:
    """How the written columns differ from the declared ones, in words; empty if not."""
    declared_types, written_types = dict(declared), dict(written)
    problems = [f"{name} is not written" for name, _ in declared if name not in written_types]
    problems += [f"{name} is not declared" for name, _ in written if name not in declared_types]
    problems += [
        f"{name} is {written_types[name]}, declared {sql_type}"
        for name, sql_type in declared
        if name in written_types and written_types[name] != sql_type
    ]
    if not problems and [n for n, _ in declared] != [n for n, _ in written]:
        problems.append("the columns are in another order than declared")
    return problems


def check_declared_columns(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Fail with one sentence when ``kpi.<table>`` as written drifts from its declaration."""
    schema = _source(table)["schema"]
    problems = column_drift(declared_columns(table), written_columns(con, schema, table))
    if problems:
        raise dg.Failure(
            description=(
                f"{schema}.{table} as written does not match its declaration in "
                f"{DECLARATION}: {'; '.join(problems)}."
            ),
            allow_retries=False,
        )


def _tests() -> dict[str, tuple[Mapping[str, Any], dg.AssetKey]]:
    """Each data test of the source by its name, with the asset of the table it tests."""
    manifest = _manifest()
    tables = {
        unique_id: dbt_model_asset_key(source["schema"], source["name"])
        for unique_id, source in manifest["sources"].items()
        if source["source_name"] == PYTHON_SOURCE
    }
    tests = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] != "test":
            continue
        parents = [p for p in node["depends_on"]["nodes"] if p in tables]
        if parents:
            tests[node["name"]] = (node, tables[parents[0]])
    return tests


@dataclass
class DbtTestResult:
    status: str = "not run"
    failures: int = 0
    message: str | None = None


def results_from_events(events: Iterable[Mapping[str, Any]]) -> dict[str, DbtTestResult]:
    """Each test's result by its unique id, from the events of a ``dbt test``.

    dbt writes no run_results.json (``NO_ARTIFACTS``): its events, as its JSON log writes
    them, have the same status and failure count per test, and the message of each that
    did not pass.
    """
    results: dict[str, DbtTestResult] = {}
    for raw in events:
        unique_id = (raw["data"].get("node_info") or {}).get("unique_id")
        if not unique_id:
            continue
        name = raw["info"]["name"]
        result = results.setdefault(unique_id, DbtTestResult())
        if name == "LogTestResult":
            result.status = raw["data"].get("status") or result.status
            result.failures = int(raw["data"].get("num_failures") or 0)
        elif name in ("RunResultError", "RunResultWarningMessage") and raw["data"].get("msg"):
            result.message = raw["data"]["msg"]
    return results


def build_source_tests_check() -> dg.AssetChecksDefinition:
    tests = _tests()

    @dg.multi_asset_check(
        name="kpi_python_source_tests",
        specs=[
            dg.AssetCheckSpec(
                name,
                asset=key,
                blocking=True,
                description=dbt_test_description(node, key),
            )
            for name, (node, key) in sorted(tests.items())
        ],
        can_subset=True,
        description=(
            f"The data tests the dbt source {PYTHON_SOURCE} declares for the kpi tables "
            "Python writes, run with dbt test once they are written."
        ),
    )
    def kpi_python_source_tests(
        context: dg.AssetCheckExecutionContext,
        dbt: DbtCliResource,
        warehouse: WarehouseResource,
    ) -> Iterator[dg.AssetCheckResult]:
        selected = {
            name
            for name, (_, key) in tests.items()
            if dg.AssetCheckKey(key, name) in context.selected_asset_check_keys
        }
        os.environ["KPI_WAREHOUSE_PATH"] = warehouse.path
        # A few dozen small queries: dbt runs in this process, which spares the 3-4 s a
        # dbt process of its own costs before its first test (run_dbt_in_process).
        dbt_run = run_dbt_in_process(
            ["test", *NO_ARTIFACTS, "--select", " ".join(sorted(selected))],
            project_dir=dbt.project_dir,
            profiles_dir=dbt.profiles_dir or dbt.project_dir,
            target_path=Path(dbt.project_dir) / warehouse_target_path(warehouse.path),
            log=context.log.info,
        )
        if dbt_run.exception is not None:
            # Every test then ends 'not run' below, and its blocking check fails.
            context.log.error(f"dbt test could not run: {dbt_run.exception}")
        results = results_from_events(dbt_run.events)
        for name in sorted(selected):
            node, key = tests[name]
            # A test dbt never reported on did not run.
            result = results.get(node["unique_id"], DbtTestResult())
            passed = result.status == "pass"
            description = None
            if not passed:
                description = f"{dbt_test_description(node, key)} It ended '{result.status}'" + (
                    f": {result.message}" if result.message else "."
                )
            yield dg.AssetCheckResult(
                asset_key=key,
                check_name=name,
                passed=passed,
                severity=dg.AssetCheckSeverity.ERROR,
                description=description,
                metadata={"failures": result.failures},
            )

    return kpi_python_source_tests
