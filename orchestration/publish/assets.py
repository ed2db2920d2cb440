"""The published, read-only copy of the ``kpi`` schema that BI tools query."""

from pathlib import Path

import dagster as dg

from orchestration.keys import (
    KPI_ALERTS_KEY,
    OWNER_DATA_ENGINEERING,
    PUBLISHED_KPI_KEY,
)
from orchestration.kpis.assets import kpi_dbt_models, kpi_history_models
from orchestration.publish.copy import publish_schema
from orchestration.quality.assets import KPI_QUALITY_KEY
from orchestration.resources import WarehouseResource
from reports.formatting import format_compact
from reports.published import latest_complete_month_start


@dg.asset(
    key=PUBLISHED_KPI_KEY,
    # Every dbt model of the kpi schema (from the dbt assets' own keys), then what Python
    # writes there.
    deps=[
        *sorted(
            key for key in (*kpi_dbt_models.keys, *kpi_history_models.keys) if key.path[0] == "kpi"
        ),
        KPI_ALERTS_KEY,
        KPI_QUALITY_KEY,
    ],
    group_name="publish",
    owners=[OWNER_DATA_ENGINEERING],
    kinds={"duckdb", "parquet"},
    description=(
        "Read-only copy of the kpi schema for BI tools (a DuckDB file and Parquet files), "
        "replaced atomically after a successful build; a failed run leaves the previous "
        "copy in place."
    ),
)
def published_kpi_copy(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    with warehouse.connection() as con:
        counts = publish_schema(con, Path(warehouse.published_path))
        month, preview = _month_preview(con)
    context.log.info(f"published: {warehouse.published_path}")
    return dg.MaterializeResult(
        metadata={
            "kpi_values_latest_month": dg.MetadataValue.md(f"**{month}**\n\n{preview}"),
            "path": dg.MetadataValue.path(warehouse.published_path),
            "tables": dg.MetadataValue.json(dict(counts)),
            "parquet": dg.MetadataValue.path(str(counts.parquet_dir)),
            "publication_id": counts.publication_id,
            "dagster/row_count": counts.get("kpi_values", 0),
        }
    )


def _month_preview(con) -> tuple[str, str]:
    """The latest complete month's KPI values (company as a whole) as a Markdown table."""
    start = latest_complete_month_start(con)
    rows = con.execute(
        """
        select kpi_id, value, target, status
        from kpi.kpi_values
        where grain = 'month' and dimension = 'all' and period_start = ?
        order by kpi_id
        """,
        [start],
    ).fetchall()
    lines = ["| kpi_id | value | target | status |", "| --- | ---: | ---: | --- |"]
    lines += [f"| {k} | {format_compact(v)} | {format_compact(t)} | {s} |" for k, v, t, s in rows]
    return start.strftime("%Y-%m") if start else "none", "\n".join(lines)


defs = dg.Definitions(assets=[published_kpi_copy])
