"""Running the warehouse by itself: schedules, sensors, alerts."""

import dagster as dg

from orchestration.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions()
