"""How fresh the pipeline's tables are expected to be, as the Dagster UI shows it."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

# The pipeline runs daily (KPI_PIPELINE_CRON); a day plus the time a run may take. A
# table not rebuilt within it shows as failing its freshness policy in the UI (the
# freshness daemon of `dagster dev` evaluates it): the daily run did not happen or did
# not get that far.
DAILY_RUN_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=26), warn_window=timedelta(hours=25)
)
