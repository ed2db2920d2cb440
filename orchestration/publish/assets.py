"""The published, read-only copy of the ``kpi`` schema that BI tools query."""

from pathlib import Path

import dagster as dg

from orchestration.keys import OWNER_DATA_ENGINEERING, PUBLISHED_KPI_KEY, dbt_model_asset_key
from orchestration.publish.copy import publish_schema
from orchestration.resources import WarehouseResource


@dg.asset(
    key=PUBLISHED_KPI_KEY,
    deps=[dbt_model_asset_key("kpi", "kpi_values"), dbt_model_asset_key("kpi", "kpi_definitions")],
    group_name="publish",
    owners=[OWNER_DATA_ENGINEERING],
    kinds={"duckdb"},
    description=(
        "Read-only copy of the kpi schema for BI tools, replaced atomically after a "
        "successful build; a failed run leaves the previous copy in place."
    ),
)
def published_kpi_copy(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    with warehouse.connection() as con:
        counts = publish_schema(con, Path(warehouse.published_path))
    context.log.info(f"published: {warehouse.published_path}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(warehouse.published_path),
            "tables": dg.MetadataValue.json(counts),
            "dagster/row_count": counts.get("kpi_values", 0),
        }
    )


defs = dg.Definitions(assets=[published_kpi_copy])
