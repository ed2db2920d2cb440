"""When the pipeline runs: its job, and the daily schedule that starts it.

The delivery sensor (sensors.py) starts the same job when new files land.
"""

from __future__ import annotations

import dagster as dg

from orchestration.keys import REPORTS_GROUP
from orchestration.operations.config import WAREHOUSE_TAG, OperationsConfig

PIPELINE_JOB = "kpi_pipeline"
PIPELINE_SCHEDULE = "kpi_pipeline_daily"


def build_pipeline_job() -> dg.UnresolvedAssetJobDefinition:
    # One writer at a time: DuckDB lets a single process write the warehouse file, so
    # the pipeline runs its steps in one process, one after another.
    return dg.define_asset_job(
        PIPELINE_JOB,
        # The scorecards are partitioned by month and run on their own schedule.
        selection=dg.AssetSelection.all() - dg.AssetSelection.groups(REPORTS_GROUP),
        executor_def=dg.in_process_executor,
        description="Extract every landing entity, check it, build the KPIs with dbt, publish.",
        # Across runs: the UI instance's run queue lets one warehouse run go at a time.
        tags={WAREHOUSE_TAG: "writes"},
    )


def build_pipeline_schedule(config: OperationsConfig) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name=PIPELINE_SCHEDULE,
        job_name=PIPELINE_JOB,
        cron_schedule=config.pipeline_cron,
        execution_timezone=config.timezone,
        default_status=config.schedule_status,
        description=(
            f"The whole pipeline at '{config.pipeline_cron}' ({config.timezone}); set "
            "KPI_PIPELINE_CRON and KPI_TIMEZONE to change it."
        ),
    )
