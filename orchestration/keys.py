"""Asset keys and groups, derived in one place for every concern."""

from __future__ import annotations

import dagster as dg

OWNER_DATA_ENGINEERING = "team:data-engineering"


def raw_asset_key(system: str, entity: str) -> dg.AssetKey:
    """The loaded landing entity: the extract asset and the dbt source are this key."""
    return dg.AssetKey(["raw", system, entity])


def dbt_model_asset_key(schema: str, name: str) -> dg.AssetKey:
    return dg.AssetKey([schema, name])


PUBLISHED_KPI_KEY = dg.AssetKey(["published", "kpi"])
