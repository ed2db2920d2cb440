"""The monthly scorecard as Dagster assets, partitioned by month."""

import dagster as dg

from orchestration.settings import Settings

REPORTS_GROUP = "reports"


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions()
