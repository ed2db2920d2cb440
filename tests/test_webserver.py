"""The UI on a fresh machine: `kpi-warehouse ui` serves the definitions and runs the pipeline.

Starts the README's command on loopback with a fresh DAGSTER_HOME, launches
``kpi_pipeline`` through the GraphQL API (as the UI's "Materialize" button does) and
waits for the run to succeed. Every wait is bounded; the process group is always ended.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 180
RUN_TIMEOUT = 300

REPOSITORY_QUERY = """
{
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes {
        name
        location { name }
        jobs { name }
        schedules { name }
        sensors { name }
      }
    }
  }
}
"""

LOGS_QUERY = """
query Logs($runId: ID!) {
  logsForRun(runId: $runId) {
    ... on EventConnection { events { __typename ... on MessageEvent { message } } }
  }
}
"""

RUN_QUERY = """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    ... on Run { status tags { key value } }
  }
}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str, variables: dict | None = None) -> dict:
    response = requests.post(
        f"http://127.0.0.1:{port}/graphql",
        json={"query": query, "variables": variables or {}},
        timeout=30,
    )
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def _stop(process: subprocess.Popen) -> None:
    """End the process group this test started (dagster dev, its webserver and daemon)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
    # Children that outlived dagster dev (a run worker) are in the same group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def test_the_ui_launches_the_pipeline_through_graphql(tmp_path):
    from dagster_graphql import DagsterGraphQLClient

    from orchestration.demo.generator import generate

    landing = tmp_path / "landing"
    generate(landing, scale=0.02, seed=7)
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    home = tmp_path / "dagster_home"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KPI_", "DAGSTER_"))}
    env.update(
        {
            "DAGSTER_HOME": str(home),
            "KPI_LANDING_DIR": str(landing),
            "KPI_WAREHOUSE_PATH": str(warehouse),
        }
    )
    log = (tmp_path / "ui.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "ui", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def tail() -> str:
        log.flush()
        return (tmp_path / "ui.log").read_text()[-4000:]

    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        repository = None
        while repository is None:
            assert process.poll() is None, f"the UI exited:\n{tail()}"
            assert time.monotonic() < deadline, f"the UI did not load in time:\n{tail()}"
            try:
                data = _graphql(port, REPOSITORY_QUERY)["repositoriesOrError"]
                nodes = data.get("nodes") or []
                repository = next(
                    (n for n in nodes if "kpi_pipeline" in {j["name"] for j in n["jobs"]}), None
                )
            except (requests.ConnectionError, requests.Timeout):
                pass
            if repository is None:
                time.sleep(1)

        assert "kpi_pipeline_daily" in {s["name"] for s in repository["schedules"]}
        assert {"new_deliveries", "notify_on_run_failure"} <= {
            s["name"] for s in repository["sensors"]
        }
        # The UI's instance: state in DAGSTER_HOME, runs queued one warehouse run at a time.
        assert "max_concurrent_runs: 1" in (home / "dagster.yaml").read_text()

        client = DagsterGraphQLClient("127.0.0.1", port_number=port)
        run_id = client.submit_job_execution(
            "kpi_pipeline",
            repository_location_name=repository["location"]["name"],
            repository_name=repository["name"],
        )
        deadline = time.monotonic() + RUN_TIMEOUT
        status = None
        while time.monotonic() < deadline:
            status = client.get_run_status(run_id).value
            if status in ("SUCCESS", "FAILURE", "CANCELED"):
                break
            assert process.poll() is None, f"the UI exited during the run:\n{tail()}"
            time.sleep(2)
        if status != "SUCCESS":
            events = _graphql(port, LOGS_QUERY, {"runId": run_id})["logsForRun"]["events"]
            messages = "\n".join(e.get("message") or e["__typename"] for e in events[-15:])
            pytest.fail(f"run {run_id} ended {status}:\n{messages}\n{tail()}")

        run = _graphql(port, RUN_QUERY, {"runId": run_id})["runOrError"]
        assert {"key": "kpi_warehouse/warehouse", "value": "writes"} in run["tags"]
        published = warehouse.with_name("warehouse.published.duckdb")
        assert published.exists()
        assert (home / "storage").is_dir() or any(home.iterdir())
    finally:
        _stop(process)
        log.close()
