"""The measured phases, each started by the harness as its own process.

``python -m orchestration.bench.phases pipeline …`` is ``kpi-warehouse run`` plus a record
of the run's step events, so that its wall time can be split into stages;
``python -m orchestration.bench.phases floor …`` runs the floor script on the landing
files. Both write what the harness needs to a JSON file and exit non-zero on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

FLOOR_SQL = Path(__file__).with_name("floor.sql")


def _step_events(instance) -> dict:
    """Run start and end, and each step's first start and last end, as epoch seconds."""
    from dagster import DagsterEventType

    from orchestration.kpis.project import DBT_PROCESS_SECONDS

    runs = instance.get_runs(limit=1)
    if not runs:
        return {"run": None, "steps": {}}
    run_id = runs[0].run_id
    run: dict[str, float] = {}
    steps: dict[str, dict] = {}
    ends = {
        DagsterEventType.STEP_SUCCESS: "success",
        DagsterEventType.STEP_FAILURE: "failure",
        DagsterEventType.STEP_SKIPPED: "skipped",
    }
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            seconds = DBT_PROCESS_SECONDS.match(entry.user_message or "")
            if seconds and entry.step_key in steps:
                step = steps[entry.step_key]
                # A retried step runs dbt more than once; all of it is dbt's time.
                step["dbt_process"] = step.get("dbt_process", 0.0) + float(seconds.group(1))
            continue
        kind = event.event_type
        if kind == DagsterEventType.RUN_START:
            run["start"] = entry.timestamp
        elif kind in (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE):
            run["end"] = entry.timestamp
        elif event.step_key and (kind == DagsterEventType.STEP_START or kind in ends):
            step = steps.setdefault(event.step_key, {"start": entry.timestamp})
            if kind in ends:
                # A retried step ends more than once; its span runs to the last end.
                step["end"] = entry.timestamp
                step["outcome"] = ends[kind]
    return {"run_id": run_id, "run": run, "steps": steps}


def run_pipeline(landing_dir: Path, warehouse: Path, events_out: Path) -> int:
    """``kpi-warehouse run`` as a user starts it, keeping hold of its Dagster instance.

    The command builds an ephemeral instance (not the UI's: the measured run alone) and
    keeps only its result; wrapping the factory is the least intrusive way to read the
    run's event log afterwards.
    """
    from dagster import DagsterInstance

    from orchestration import cli
    from orchestration.operations.instance import EPHEMERAL_ENV

    os.environ[EPHEMERAL_ENV] = "1"

    instances = []
    make_ephemeral = DagsterInstance.ephemeral

    def keep_ephemeral(*args, **kwargs):
        instance = make_ephemeral(*args, **kwargs)
        instances.append(instance)
        return instance

    DagsterInstance.ephemeral = staticmethod(keep_ephemeral)
    code = cli.main(["run", "--landing-dir", str(landing_dir), "--warehouse", str(warehouse)])
    returned = time.time()
    events = _step_events(instances[0]) if instances else {"run": None, "steps": {}}
    # Reading the event log is the harness's own cost; the harness reports it apart.
    record = {"exit_code": code, "command_returned": returned, "events_read": time.time()}
    events_out.write_text(json.dumps({**record, **events}, indent=2) + "\n")
    return code


def run_floor(landing_dir: Path, rows_out: Path) -> int:
    """The floor script in a fresh in-memory DuckDB, reading the landing files directly."""
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect()
    # The script's paths are relative to the landing directory.
    folder = str(landing_dir.resolve()).replace("'", "''")
    con.execute(f"set file_search_path = '{folder}'")
    rows = con.execute(FLOOR_SQL.read_text(encoding="utf-8")).fetchall()
    seconds = time.perf_counter() - started
    rows_out.write_text(
        json.dumps(
            {
                "query_seconds": seconds,
                "rows": [
                    [kpi_id, grain, period_start.isoformat(), dimension, dimension_value, *numbers]
                    for kpi_id, grain, period_start, dimension, dimension_value, *numbers in rows
                ],
            }
        )
        + "\n"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.bench.phases")
    sub = parser.add_subparsers(dest="phase", required=True)
    pipeline = sub.add_parser("pipeline")
    pipeline.add_argument("--landing-dir", type=Path, required=True)
    pipeline.add_argument("--warehouse", type=Path, required=True)
    pipeline.add_argument("--events", type=Path, required=True)
    floor = sub.add_parser("floor")
    floor.add_argument("--landing-dir", type=Path, required=True)
    floor.add_argument("--rows", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.phase == "pipeline":
        return run_pipeline(args.landing_dir, args.warehouse, args.events)
    return run_floor(args.landing_dir, args.rows)


if __name__ == "__main__":
    sys.exit(main())
