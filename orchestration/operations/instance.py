"""The Dagster instance the UI runs on: its dagster.yaml in DAGSTER_HOME."""

from __future__ import annotations

from pathlib import Path

from orchestration.operations.config import WAREHOUSE_TAG

INSTANCE_YAML = f"""\
# Dagster instance settings for kpi-warehouse, written by `kpi-warehouse ui` when this
# folder had no dagster.yaml. Edit freely: it is not overwritten.
concurrency:
  runs:
    # Every run of this code location opens the one DuckDB warehouse file, and DuckDB lets
    # a single process write it (no other process may even read it meanwhile). Runs queue
    # and go one at a time, whatever started them: a schedule, a sensor, a backfill or a
    # click on "Materialize".
    max_concurrent_runs: 1
    # The same rule for the runs tagged as opening the warehouse, should the limit above
    # be raised for other code locations.
    tag_concurrency_limits:
      - key: "{WAREHOUSE_TAG}"
        limit: 1
telemetry:
  enabled: false
"""


def ensure_instance_config(home: Path) -> tuple[Path, bool]:
    """Write dagster.yaml into ``home`` unless one is there; (its path, whether written)."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "dagster.yaml"
    if path.exists():
        return path, False
    tmp = path.with_name(".dagster.yaml.tmp")
    tmp.write_text(INSTANCE_YAML)
    tmp.replace(path)
    return path, True
