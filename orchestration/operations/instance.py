"""The Dagster instance the UI and the command line share: its dagster.yaml in DAGSTER_HOME."""

from __future__ import annotations

import os
from pathlib import Path

from orchestration.operations.config import WAREHOUSE_TAG
from orchestration.settings import PROJECT_ROOT

DEFAULT_DAGSTER_HOME = PROJECT_ROOT / "var" / "dagster_home"
# Only for measurements that must not depend on a history of earlier runs (the benchmark).
EPHEMERAL_ENV = "KPI_DAGSTER_EPHEMERAL"

INSTANCE_YAML = f"""\
# Dagster instance settings for kpi-warehouse, written by `kpi-warehouse` (ui, run or
# demo) when this folder had no dagster.yaml. Edit freely: it is not overwritten.
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


def dagster_home() -> Path:
    """Where runs are recorded and the UI reads them: DAGSTER_HOME, else var/dagster_home."""
    return Path(os.environ.get("DAGSTER_HOME") or DEFAULT_DAGSTER_HOME).expanduser().resolve()


def wants_ephemeral_instance() -> bool:
    return (os.environ.get(EPHEMERAL_ENV) or "").strip().lower() in ("1", "true", "yes")
