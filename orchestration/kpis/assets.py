"""The dbt project's models as Dagster assets and its data tests as asset checks.

Keys and groups derive from the dbt project itself: a model's key is [schema, name] and
its group is its layer (the first folder under models/), so adding a model needs no
edit here. Sources map onto the extract assets' keys, which wires lineage from every
KPI back to the landing entities it reads.
"""

import hashlib
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

from orchestration.keys import OWNER_DATA_ENGINEERING, dbt_model_asset_key, raw_asset_key
from orchestration.kpis.dbt_tests import dbt_test_description
from orchestration.kpis.project import dbt_project, ensure_manifest
from orchestration.resources import WarehouseResource

OWNER_ANALYTICS = "team:analytics-engineering"


class KpiDbtTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return raw_asset_key(dbt_resource_props["source_name"], dbt_resource_props["name"])
        schema = dbt_resource_props.get("config", {}).get("schema") or dbt_resource_props["schema"]
        return dbt_model_asset_key(schema, dbt_resource_props["name"])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return dbt_resource_props["source_name"]
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "kpi"

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
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
        owners = [OWNER_ANALYTICS]
        kpi = dbt_resource_props.get("config", {}).get("meta", {}).get("kpi")
        if kpi:
            # Dagster owners are e-mail addresses or teams; the KPI's owner is a role.
            owners.append("team:" + kpi["owner"].lower().replace(" ", "-"))
        if dbt_resource_props["resource_type"] == "source":
            owners = [OWNER_DATA_ENGINEERING]
        return owners

    def get_asset_spec(self, manifest, unique_id, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
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


translator = KpiDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@dbt_assets(
    manifest=ensure_manifest(),
    project=dbt_project,
    dagster_dbt_translator=translator,
    # Unit tests prove the SQL in CI; a production run only builds and data-tests.
    exclude="resource_type:unit_test",
    # Once, after a pause: a warehouse file still locked by another process is the
    # transient case; a failing model or test fails again and stops the run.
    retry_policy=dg.RetryPolicy(max_retries=1, delay=15),
)
def kpi_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
):
    # The profile reads the warehouse path from the environment of the dbt process.
    os.environ["KPI_WAREHOUSE_PATH"] = warehouse.path
    args = ["build", "--exclude-resource-type", "unit_test"]
    if warehouse.as_of:
        args += ["--vars", json.dumps({"as_of": warehouse.as_of})]
    invocation = dbt.cli(args, context=context, target_path=_target_path(warehouse.path))
    yield from invocation.stream()


def _target_path(warehouse_path: str) -> Path:
    """One dbt target folder per warehouse, reused by its runs.

    dbt's partial parse is only valid for the profile it was made with, and the profile
    holds the warehouse path; a fresh folder per run (dagster-dbt's default) made every
    run parse the whole project again, and left a folder behind each time.
    """
    digest = hashlib.sha256(str(Path(warehouse_path).resolve()).encode()).hexdigest()[:12]
    return Path("target") / f"warehouse-{digest}"


defs = dg.Definitions(
    assets=[kpi_dbt_models],
    resources={"dbt": DbtCliResource(project_dir=dbt_project)},
)
