"""The dbt project's models as Dagster assets and its data tests as asset checks.

Keys and groups derive from the dbt project itself: a model's key is [schema, name] and
its group is its layer (the first folder under models/), so adding a model needs no
edit here. Sources map onto the extract assets' keys, which wires lineage from every
KPI back to the landing entities it reads.
"""

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)
from dagster_dbt.asset_utils import DAGSTER_DBT_PROJECT_METADATA_KEY

from orchestration import warehouse_lock
from orchestration.crash_points import pause_point
from orchestration.docs_server import DBT_PREFIX, docs_url
from orchestration.freshness import DAILY_RUN_FRESHNESS
from orchestration.keys import OWNER_DATA_ENGINEERING, dbt_model_asset_key, raw_asset_key
from orchestration.kpis import build_mode
from orchestration.kpis.dbt_tests import dbt_test_description
from orchestration.kpis.project import (
    NO_ARTIFACTS,
    WarehouseDbtCli,
    dbt_project,
    ensure_manifest,
    release_duckdb_warehouse,
    run_dbt_in_process,
    timed_dbt_process,
    warehouse_target_path,
)
from orchestration.kpis.python_sources import PYTHON_SOURCE_SELECTION, build_source_tests_check
from orchestration.resources import WarehouseResource

OWNER_ANALYTICS = "team:analytics-engineering"

# Row counts (and with KPI_DBT_FETCH_METADATA=all the built column types) are read from
# the warehouse after dbt finishes; =0 reads neither (BENCHMARKS.md).
FETCH_METADATA_ENV = "KPI_DBT_FETCH_METADATA"


class KpiDbtTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            if dbt_resource_props["schema"].startswith("raw_"):
                return raw_asset_key(dbt_resource_props["source_name"], dbt_resource_props["name"])
            # A table Python writes into a dbt schema (source kpi_python) is keyed like
            # the models beside it.
            return dbt_model_asset_key(dbt_resource_props["schema"], dbt_resource_props["name"])
        schema = dbt_resource_props.get("config", {}).get("schema") or dbt_resource_props["schema"]
        return dbt_model_asset_key(schema, dbt_resource_props["name"])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return dbt_resource_props["source_name"]
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "kpi"

    def _description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        # A model documented only by the comment that opens its SQL shows that comment
        # rather than its raw SQL.
        if not dbt_resource_props.get("description"):
            header = []
            for line in (dbt_resource_props.get("raw_code") or "").lstrip().splitlines():
                if not line.startswith("--"):
                    break
                header.append(line.removeprefix("--").strip())
            if header:
                return " ".join(header)
        return super().get_description(dbt_resource_props)

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        # Dagster's owners are the maintainers. Who answers for a KPI's number is one
        # field, the registry's `owner` (the "accountable owner" metadata row below and
        # the KPI's description); the dbt group's owner is the perspective's steward.
        if dbt_resource_props["resource_type"] == "source":
            return [OWNER_DATA_ENGINEERING]
        return [OWNER_ANALYTICS]

    def get_metadata(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, Any]:
        metadata = dict(super().get_metadata(dbt_resource_props))
        kpi = dbt_resource_props.get("config", {}).get("meta", {}).get("kpi")
        if kpi:
            metadata["accountable owner"] = kpi["owner"]
        return metadata

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        # The dbt docs link to their own pages (#!/model/...); the UI reaches them on the
        # docs server (kpi-warehouse docs).
        description = self._description(dbt_resource_props)
        return description.replace("](#!/", f"]({docs_url()}{DBT_PREFIX}#!/")

    def get_asset_spec(self, manifest, unique_id, project) -> dg.AssetSpec:
        # The project is not kept in the metadata (below), so dagster-dbt hands None back
        # when it rebuilds the specs in a run; code references need it either way.
        spec = super().get_asset_spec(manifest, unique_id, project or dbt_project)
        if manifest["nodes"].get(unique_id, {}).get("resource_type") in ("model", "snapshot"):
            spec = spec.replace_attributes(freshness_policy=DAILY_RUN_FRESHNESS)
        # The UI cannot show the project object; it listed it as an "(unserializable)" row.
        # dbt still runs in the resource's project_dir, the same folder.
        metadata = {k: v for k, v in spec.metadata.items() if k != DAGSTER_DBT_PROJECT_METADATA_KEY}
        return spec.replace_attributes(metadata=metadata)

    def get_asset_check_spec(self, asset_spec, manifest, unique_id, project):
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        test = manifest["nodes"][unique_id]
        return dg.AssetCheckSpec(
            spec.name,
            asset=spec.asset_key,
            description=dbt_test_description(test, asset_spec.key),
            additional_deps=spec.additional_deps,
            blocking=spec.blocking,
            metadata=spec.metadata,
        )


translator = KpiDbtTranslator(
    settings=DagsterDbtTranslatorSettings(
        enable_asset_checks=True,
        # Each model links to its SQL file (dagster/code_references) in the UI.
        enable_code_references=True,
    )
)


def fetched_metadata() -> str:
    """What is read after the build: "rows" (row counts, the default), "all" (and the
    column types) or "" (neither).

    Both cost about 0.1 s at scale 10 (BENCHMARKS.md); the documented column schema, with
    descriptions, is on the asset definitions either way.
    """
    value = os.environ.get(FETCH_METADATA_ENV, "rows").strip().lower()
    if value in ("0", "false", "no", "off"):
        return ""
    return "all" if value == "all" else "rows"


# The history snapshot of kpi_values and what derives from it (reported values,
# restatements) record what was published, so they are built in a step of their own that
# runs only once the blocking checks on kpi_values have passed: a blocked run's values
# never enter the history.
HISTORY_SELECTION = "kpi_values_history+"


@dbt_assets(
    manifest=ensure_manifest(),
    project=dbt_project,
    dagster_dbt_translator=translator,
    # Unit tests prove the SQL in CI; a production run only builds and data-tests.
    exclude=f"resource_type:unit_test {HISTORY_SELECTION} {PYTHON_SOURCE_SELECTION}",
    # Once, after a pause: a warehouse file still locked by another process is the
    # transient case; a failing model or test fails again and stops the run.
    retry_policy=dg.RetryPolicy(max_retries=1, delay=15),
)
def kpi_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
):
    # The incremental staging models are all in this step; the history step's snapshot
    # ignores --full-refresh and the rest of it are tables.
    with warehouse.connection() as con:
        mode = build_mode.decide(con, dbt_project.project_dir, warehouse.full_refresh)
    context.log.info(mode.sentence())
    extra = ["--full-refresh"] if mode.full else []
    yield from _dbt_build(context, dbt, warehouse, extra)
    # Only after dbt succeeded (a failure raises out of the build above): a failed build
    # leaves the last good state, and the next run compares itself with that. Only after a
    # build of the whole step too: the incremental models take its loaded_through for
    # what they have seen, which a build of some of them (a subset picked in the UI) is not.
    if context.is_subset:
        context.log.info("dbt build of a subset: the last whole build stays on record.")
        return
    with warehouse.connection() as con:
        build_mode.record(con, mode)


@dbt_assets(
    manifest=ensure_manifest(),
    project=dbt_project,
    dagster_dbt_translator=translator,
    select=HISTORY_SELECTION,
    exclude=f"resource_type:unit_test {PYTHON_SOURCE_SELECTION}",
    name="kpi_history_models",
    retry_policy=dg.RetryPolicy(max_retries=1, delay=15),
)
def kpi_history_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
):
    yield from _dbt_build_in_process(context, dbt, warehouse)


def _build_args(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, extra_args: list[str]
) -> list[str]:
    """The arguments of a step's ``dbt build``, less its selection."""
    # The profile reads the warehouse path from the environment of the dbt process.
    os.environ["KPI_WAREHOUSE_PATH"] = warehouse.path
    # The history snapshot records which run published each state of kpi_values (an
    # environment variable, not a var: a new var every run would defeat partial parsing).
    os.environ["KPI_RUN_ID"] = context.run_id
    args = ["build", *NO_ARTIFACTS, "--exclude-resource-type", "unit_test", *extra_args]
    if warehouse.as_of:
        args += ["--vars", json.dumps({"as_of": warehouse.as_of})]
    return args


def _dbt_build(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    extra_args: list[str] | None = None,
):
    """``dbt build`` of the step's selection (dagster-dbt passes it), with metadata."""
    args = _build_args(context, warehouse, extra_args or [])
    invocation = dbt.cli(args, context=context, target_path=warehouse_target_path(warehouse.path))
    # dbt outlives a run killed under it; the next run stops it (warehouse_lock.recover).
    warehouse_lock.record_child(warehouse.path, invocation.process.pid)
    # The crash tests' hold, with the dbt process under way.
    pause_point("dbt")
    events = timed_dbt_process(invocation.stream(), context.log.info, "build")
    fetch = fetched_metadata()
    if not fetch:
        yield from events
        return
    try:
        yield from with_table_metadata(
            events, invocation.manifest, warehouse.path, column_types=fetch == "all"
        )
    finally:
        _release_warehouse(invocation.adapter)


def _dbt_build_in_process(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
):
    """``dbt build`` of the step's selection inside this process, with metadata.

    For a step of a few small models: a dbt process of its own paid 3-4 s before its first
    node (importing dbt-core and its adapter, which this process has imported already),
    three times what the history step's nodes take at scale 10 (BENCHMARKS.md). The
    selection and the Dagster events are dagster-dbt's own, as ``dbt.cli`` makes them.
    """
    from dagster_dbt.asset_utils import get_updated_cli_invocation_params_for_context
    from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage

    # The manifest and translator come from the step's own assets definition.
    params = get_updated_cli_invocation_params_for_context(
        context=context, manifest={}, dagster_dbt_translator=translator
    )
    project_dir = Path(params.dbt_project.project_dir if params.dbt_project else dbt.project_dir)
    target_path = Path(dbt.project_dir) / warehouse_target_path(warehouse.path)
    env = {"DBT_INDIRECT_SELECTION": params.indirect_selection} if params.indirect_selection else {}
    result = run_dbt_in_process(
        [*_build_args(context, warehouse, []), *params.selection_args],
        project_dir=project_dir,
        profiles_dir=dbt.profiles_dir or dbt.project_dir,
        target_path=target_path,
        log=context.log.info,
        env=env,
    )
    # dbt's own lines in the step's output, where a dbt process of its own printed them.
    print("\n".join(result.lines()), flush=True)
    events = (
        event
        for raw in result.events
        for event in DbtCoreCliEventMessage(
            raw_event=raw, event_history_metadata={}
        ).to_default_asset_events(
            manifest=params.manifest,
            dagster_dbt_translator=params.dagster_dbt_translator,
            context=context,
            target_path=target_path,
            project=dbt_project,
        )
    )
    fetch = fetched_metadata()
    if fetch:
        events = with_table_metadata(
            events, params.manifest, warehouse.path, column_types=fetch == "all"
        )
    # What succeeded is reported before the failure, as from a dbt process of its own.
    yield from events
    if result.exception is not None or not result.success:
        errors = result.errors() or [str(result.exception or "no error message")]
        raise dg.Failure(
            description=f"dbt build of {context.op.name} failed: {errors[0]}",
            metadata={"errors": "\n".join(errors)},
        )


def with_table_metadata(
    events, manifest: Mapping[str, Any], warehouse_path: str, column_types: bool
):
    """The dbt events, each table's with its row count (and built column types if asked).

    dagster-dbt's own ``fetch_row_counts`` opens dbt's adapter in this process and sends
    one query per model through it, a near-fixed cost per model that was 5–6% of a run at
    scale 10 (BENCHMARKS.md). Here every count is one query on one DuckDB connection, and
    the column types one more. DuckDB lets no other process open the file while dbt
    writes it, so the events wait for dbt to finish; views are not counted (that would
    run their SQL).
    """
    buffered = list(events)
    tables: dict[str, tuple[str, str]] = {}
    for event in buffered:
        node = _node_of(event, manifest)
        if node and node["config"].get("materialized") != "view":
            tables[node["unique_id"]] = (node["schema"], node.get("alias") or node["name"])
    counts, columns = _read_table_metadata(warehouse_path, set(tables.values()), column_types)
    for event in buffered:
        relation = tables.get((_node_of(event, manifest) or {}).get("unique_id"))
        if relation is None or relation not in counts:
            yield event
            continue
        extra: dict[str, Any] = {"dagster/row_count": counts[relation]}
        if relation in columns:
            extra["dagster/column_schema"] = dg.TableSchema(
                columns=[dg.TableColumn(name, type_) for name, type_ in columns[relation]]
            )
        yield event.with_metadata({**event.metadata, **extra})


def _node_of(event, manifest: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if not isinstance(event, (dg.Output, dg.AssetMaterialization)):
        return None
    unique_id = event.metadata.get("unique_id")
    return manifest["nodes"].get(unique_id.text) if unique_id is not None else None


def _read_table_metadata(
    warehouse_path: str, relations: set[tuple[str, str]], column_types: bool
) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], list[tuple[str, str]]]]:
    import duckdb

    if not relations:
        return {}, {}
    con = duckdb.connect(warehouse_path, read_only=True)
    try:
        built = {
            (schema, name)
            for schema, name in con.execute(
                "select schema_name, table_name from duckdb_tables()"
            ).fetchall()
        }
        present = sorted(relations & built)
        counts: dict[tuple[str, str], int] = {}
        if present:
            union = " union all ".join(
                f"select {i} as i, count(*) as n from {_quote(schema)}.{_quote(name)}"
                for i, (schema, name) in enumerate(present)
            )
            counts = {present[i]: n for i, n in con.execute(union).fetchall()}
        columns: dict[tuple[str, str], list[tuple[str, str]]] = {}
        if column_types and present:
            rows = con.execute(
                "select schema_name, table_name, column_name, data_type from duckdb_columns() "
                "order by schema_name, table_name, column_index"
            ).fetchall()
            wanted = set(present)
            for schema, name, column, type_ in rows:
                if (schema, name) in wanted:
                    columns.setdefault((schema, name), []).append((column, type_))
        return counts, columns
    finally:
        con.close()


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _release_warehouse(adapter) -> None:
    """Close any warehouse connection dbt's adapter opened in this process.

    dagster-dbt makes an adapter for each invocation; dbt-duckdb keeps one DuckDB database
    open per process with its own settings, and the pipeline's later steps open the same
    file with theirs, which DuckDB refuses while the first is open.
    """
    if adapter is None:
        return
    adapter.cleanup_connections()
    release_duckdb_warehouse()


defs = dg.Definitions(
    assets=[kpi_dbt_models, kpi_history_models],
    asset_checks=[build_source_tests_check()],
    resources={"dbt": WarehouseDbtCli(project_dir=dbt_project)},
)
