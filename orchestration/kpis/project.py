"""The dbt project as Dagster sees it, and keeping its manifest current."""

from __future__ import annotations

import hashlib
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from dagster_dbt import DbtCliResource, DbtProject
from dagster_dbt.dbt_project import DagsterDbtProjectPreparer
from packaging import version

from orchestration.settings import DBT_PROJECT_DIR

# dbt is a console script installed beside this interpreter; a virtualenv that is used
# without being activated does not have it on PATH.
_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


class WarehouseDbtCli(DbtCliResource):
    """dagster-dbt's dbt resource without two fixed costs of each run that serve nothing here.

    - dagster-dbt learns dbt's version by running ``dbt --version`` once per run (2–3 s:
      it also looks up the latest release). dbt runs from this interpreter's environment
      (see PATH above), so it is the installed dbt-core's version, read without a process.
    - dagster-dbt builds a dbt adapter in this process for each ``dbt`` call, loading
      every dbt macro (about 2 s for the first call of a process, under 1 s for later
      ones), only so that its ``fetch_row_counts``/``fetch_column_metadata`` can query the
      built tables. This project reads that metadata with one DuckDB query instead
      (``with_table_metadata`` in ``orchestration/kpis/assets.py``), so it needs none.

    Both override private members of dagster-dbt (0.29); ``tests/test_dbt_resource.py``
    checks that they are still called, so an upgrade that renames them fails there.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        from dbt.version import __version__

        return version.parse(__version__)

    def _initialize_dbt_core_adapter(self, args):
        return None


# The pipeline's dbt processes write no manifest.json, semantic_manifest.json or
# run_results.json: nothing reads them from a warehouse's target folder (the Dagster
# definitions load the project's own target/manifest.json, and every result arrives in the
# structured log), and writing the 2 MB manifest twice cost each process 1.2-1.4 s at every
# scale (BENCHMARKS.md). The partial-parse state is still saved.
NO_ARTIFACTS = ("--no-write-json",)


# A dbt step logs how long dbt ran, in its own process or in the step's; the rest of the
# step is the work around it (dagster-dbt's preparation, Dagster storing the events, the
# table metadata), which the benchmark reports as dagster-dbt's overhead (BENCHMARKS.md).
DBT_PROCESS_SECONDS = re.compile(r"^(?:The dbt process|dbt in this process) ran (\d+(?:\.\d+)?) s")


def timed_dbt_process(events: Iterable, log: Callable[[str], None], command: str) -> Iterator:
    """The dbt events, logging the process's run time once they end.

    The steps iterate it as soon as dagster-dbt has started the process, which is when the
    clock starts; the last event comes when the process closes its output.
    """
    started = time.monotonic()
    yield from events
    log(f"The dbt process ran {time.monotonic() - started:.2f} s (dbt {command}).")


@dataclass
class InProcessDbt:
    """What one dbt command run in this process left: its events, as dbt's JSON log
    writes them, whether dbt called it a success, and the exception that stopped it."""

    events: list[dict[str, Any]]
    success: bool
    exception: BaseException | None

    def lines(self) -> list[str]:
        """What dbt would have printed at its default log level, uncoloured."""
        return [
            _ANSI.sub("", raw["info"]["msg"])
            for raw in self.events
            if raw["info"].get("level") in ("info", "warn", "error") and raw["info"].get("msg")
        ]

    def errors(self) -> list[str]:
        """Why each node that failed failed, in dbt's words, one line each."""
        errors = []
        for raw in self.events:
            if raw["info"]["name"] != "RunResultError" or not raw["info"].get("msg"):
                continue
            text = _ANSI.sub("", raw["info"]["msg"])
            line = " ".join(part.strip() for part in text.splitlines() if part.strip())
            node = (raw["data"].get("node_info") or {}).get("node_name")
            errors.append(f"{node}: {line}" if node and node not in line else line)
        return errors


# dbt colours its console messages; a Dagster failure shows plain text.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run_dbt_in_process(
    args: Sequence[str],
    *,
    project_dir: Path | str,
    profiles_dir: Path | str,
    target_path: Path,
    log: Callable[[str], None],
    env: Mapping[str, str] | None = None,
) -> InProcessDbt:
    """Run one dbt command inside this process (with ``env`` set while it runs).

    A dbt process of its own pays 3-4 s before its first node, importing dbt-core and its
    adapter; here dagster-dbt has imported most of it already. Measured on the tests of the
    tables Python writes at scale 10: 5.3-6.7 s as a process, 2.4-3.2 s in this one
    (BENCHMARKS.md). dbt-duckdb keeps the warehouse open in the process after dbt returns,
    with dbt's settings, which would stop the next step opening it with its own, so it is
    closed before this returns.
    """
    from dbt.cli.main import dbtRunner
    from dbt_common.events.functions import msg_to_dict

    events: list[dict[str, Any]] = []
    invocation = [
        *args,
        *("--project-dir", str(project_dir), "--profiles-dir", str(profiles_dir)),
        *("--target-path", str(target_path), "--log-path", str(target_path)),
        # The events reach the step through the callback; dbt prints nothing itself.
        *("--log-level", "none"),
    ]
    started = time.monotonic()
    saved = {name: os.environ.get(name) for name in env or {}}
    os.environ.update(env or {})
    try:
        # msg_to_dict is what dbt's JSON log writes for each event.
        result = dbtRunner(callbacks=[lambda m: events.append(msg_to_dict(m))]).invoke(invocation)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        release_duckdb_warehouse()
    log(f"dbt in this process ran {time.monotonic() - started:.2f} s (dbt {args[0]}).")
    return InProcessDbt(events, bool(result.success), result.exception)


def release_duckdb_warehouse() -> None:
    """Close the warehouse that dbt-duckdb keeps open in this process, if it does."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # dbt-duckdb not installed: it opened nothing
        return
    environment = getattr(DuckDBConnectionManager, "_ENV", None)
    if environment is not None:
        environment.close()
        DuckDBConnectionManager.close_all_connections()


_SOURCE_SUFFIXES = {".sql", ".yml", ".yaml", ".md", ".csv"}


def _newest_source_mtime(project_dir: Path) -> float:
    newest = 0.0
    for folder in ("models", "macros", "tests", "seeds", "docs"):
        for path in (project_dir / folder).rglob("*"):
            if path.suffix in _SOURCE_SUFFIXES:
                newest = max(newest, path.stat().st_mtime)
    for name in ("dbt_project.yml", "profiles.yml"):
        newest = max(newest, (project_dir / name).stat().st_mtime)
    return newest


def ensure_manifest(project: DbtProject = dbt_project) -> Path:
    """Parse the dbt project when its manifest is missing or older than its sources.

    A fresh clone has no manifest (target/ is not committed); a developer who edits a
    model gets a new one on the next load instead of stale asset definitions.
    """
    manifest = project.manifest_path
    if not manifest.exists() or manifest.stat().st_mtime < _newest_source_mtime(
        project.project_dir
    ):
        DagsterDbtProjectPreparer().prepare(project)
    return manifest


def warehouse_target_path(warehouse_path: str) -> Path:
    """One dbt target folder per warehouse, reused by its runs.

    dbt's partial parse is only valid for the profile it was made with, and the profile
    holds the warehouse path; a fresh folder per run (dagster-dbt's default) made every
    run parse the whole project again, and left a folder behind each time.
    """
    digest = hashlib.sha256(str(Path(warehouse_path).resolve()).encode()).hexdigest()[:12]
    return Path("target") / f"warehouse-{digest}"
