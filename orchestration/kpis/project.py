"""The dbt project as Dagster sees it, and keeping its manifest current."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from dagster_dbt import DbtProject
from dagster_dbt.dbt_project import DagsterDbtProjectPreparer

from orchestration.settings import DBT_PROJECT_DIR

# dbt is a console script installed beside this interpreter; a virtualenv that is used
# without being activated does not have it on PATH.
_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)

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
