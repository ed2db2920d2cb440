"""Data-quality gates (Great Expectations suites in expectations/) as Dagster checks."""

import dagster as dg

from orchestration.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions()
