"""The Dagster code location: every concern's definitions, merged, plus shared resources.

``dagster dev`` loads ``defs`` (configured from the environment); ``kpi-warehouse run``
builds the same definitions with the paths it was given and runs the same job.
"""

import dagster as dg

from orchestration.connectors import assets as connectors
from orchestration.goals import assets as goals
from orchestration.ingestion import assets as ingestion
from orchestration.kpis import assets as kpis
from orchestration.operations import assets as operations
from orchestration.operations.schedules import PIPELINE_JOB
from orchestration.publish import assets as publish
from orchestration.quality import assets as quality
from orchestration.reports import assets as reports
from orchestration.resources import LandingZoneResource, WarehouseResource
from orchestration.run_log import concise_console_logger
from orchestration.settings import Settings

# The command line runs the pipeline job by this name.
__all__ = ["PIPELINE_JOB", "build_definitions", "defs"]


def build_definitions(settings: Settings) -> dg.Definitions:
    return dg.Definitions.merge(
        connectors.build_defs(settings),
        ingestion.build_defs(settings),
        goals.build_defs(),
        kpis.defs,
        quality.build_defs(settings),
        publish.defs,
        reports.build_defs(settings),
        operations.build_defs(settings),
        dg.Definitions(
            resources={
                "warehouse": WarehouseResource(
                    path=str(settings.warehouse_path),
                    published_path=str(settings.published_path),
                    as_of=settings.as_of,
                    full_refresh=settings.full_refresh,
                ),
                "landing": LandingZoneResource(path=str(settings.landing_dir)),
            },
            loggers={"console": concise_console_logger},
        ),
    )


ENV_SETTINGS = Settings.from_env()
defs = build_definitions(ENV_SETTINGS)
