"""Asset keys and groups, derived in one place for every concern."""

from __future__ import annotations

import dagster as dg

OWNER_DATA_ENGINEERING = "team:data-engineering"

# The scorecards: their group and job (the resources tell a scorecard run, which only
# reads the published copy, by these) and their partitions.
REPORTS_GROUP = "reports"
SCORECARD_JOB = "monthly_scorecard"
# The months that can render: every month complete in the published copy, registered by
# the pipeline as it publishes (SCORECARD_MONTHS_KEY). A month still loading, or before
# the data starts, is not a partition at all, so the UI offers only what renders.
SCORECARD_MONTHS = "scorecard_months"
MONTHLY = dg.DynamicPartitionsDefinition(name=SCORECARD_MONTHS)
SCORECARD_MONTHS_KEY = dg.AssetKey(["published", "scorecard_months"])


def raw_asset_key(system: str, entity: str) -> dg.AssetKey:
    """The loaded landing entity: the extract asset and the dbt source are this key."""
    return dg.AssetKey(["raw", system, entity])


def landing_asset_key(system: str, entity: str) -> dg.AssetKey:
    """The entity's landing folder, where a connector (database, API, demo) delivers."""
    return dg.AssetKey(["landing", system, entity])


def dbt_model_asset_key(schema: str, name: str) -> dg.AssetKey:
    return dg.AssetKey([schema, name])


PUBLISHED_KPI_KEY = dg.AssetKey(["published", "kpi"])
# Written by the alert evaluation (operations/) into the kpi schema, published with it.
KPI_ALERTS_KEY = dg.AssetKey(["kpi", "kpi_alerts"])
