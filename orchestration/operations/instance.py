"""The Dagster instance the UI and the command line share: its dagster.yaml in DAGSTER_HOME."""

from __future__ import annotations

import fcntl
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


def open_instance(home: Path):
    """The persistent instance in ``home``, its storage created by one process at a time.

    Dagster creates the SQLite run, event and schedule databases the first time an
    instance opens, and two processes doing that at once (two warehouses run at the same
    time from a fresh folder) both stamp the schema version and one fails on a UNIQUE
    constraint. A ``flock`` beside dagster.yaml makes the second wait for the first.
    """
    from dagster import DagsterInstance

    ensure_instance_config(home)
    os.environ["DAGSTER_HOME"] = str(home)
    with open(home / ".instance.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            instance = DagsterInstance.get()
            # Each storage is created when first asked for: ask inside the lock.
            _ = (instance.run_storage, instance.event_log_storage, instance.schedule_storage)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return instance
