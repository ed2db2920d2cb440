"""Asset keys and groups, derived in one place for every concern."""

from __future__ import annotations

import dagster as dg

OWNER_DATA_ENGINEERING = "team:data-engineering"


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
