"""Whether a run's dbt build may be incremental, or must rebuild every model, and why.

The staging models and the order facts are incremental by key, and the order facts' KPI
aggregates by period (dbt_project/macros/incremental.sql): a daily run recomputes only
the keys, and the periods, its deliveries can have changed. That equals a full build
only while raw rows are only ever added and the code that turns them into tables is the
code that built the tables. So the run rebuilds everything (``dbt build --full-refresh``)
when

- it was asked to (``kpi-warehouse run --full-refresh``);
- the warehouse has no record of a successful build, or no staging tables;
- the dbt project (models and their registry YAML, macros, snapshots, dbt_project.yml) or
  the dbt target differs from the one of the last successful build;
- a delivery file was unloaded (removed, or changed and reloaded) since the last
  successful build: its rows left the raw tables, which a watermark cannot see. This is
  read from ``ingest.load_log`` rather than from this run's extract result, so an unload
  in a run whose build then failed still forces the next build to be full.

``meta.dbt_build_state`` holds the one row the next run compares with; it is written
after a successful build of the whole step only. Its ``loaded_through`` is what the order
facts take for the rows the last build saw. Writing it also empties
``meta.kpi_changed_from``: every aggregate incremental by period has then rebuilt what
the builds it records changed. The history snapshot ignores ``--full-refresh``, so a
full build never rewrites what was published.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

STATE_TABLE = "meta.dbt_build_state"
# The earliest date each source's builds changed since the last build of the whole step,
# which the KPI aggregates incremental by period rebuild from (macros/incremental.sql).
CHANGES_TABLE = "meta.kpi_changed_from"
STAGING_SCHEMA = "staging"
_HASHED_FOLDERS = ("models", "macros", "snapshots")
_HASHED_FILES = ("dbt_project.yml",)


@dataclass(frozen=True)
class BuildMode:
    full: bool
    reason: str
    code_hash: str
    # The latest ingest.load_log entry when the build started: what it has seen.
    loaded_through: datetime | None

    def sentence(self) -> str:
        if self.full:
            return f"dbt build: full refresh, because {self.reason}."
        return f"dbt build: incremental ({self.reason})."


def dbt_target() -> str:
    return os.environ.get("KPI_DBT_TARGET") or "duckdb"


def project_hash(project_dir: Path, target: str) -> str:
    """A hash of the dbt project's code and the target it builds on."""
    project_dir = Path(project_dir)
    digest = hashlib.sha256(f"target={target}\0".encode())
    paths = [project_dir / name for name in _HASHED_FILES]
    for folder in _HASHED_FOLDERS:
        paths.extend(p for p in (project_dir / folder).rglob("*") if p.is_file())
    for path in sorted(paths, key=lambda p: p.relative_to(project_dir).as_posix()):
        digest.update(path.relative_to(project_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?",
            [schema, name],
        ).fetchone()[0]
    )


def decide(
    con: duckdb.DuckDBPyConnection, project_dir: Path, requested_full: bool = False
) -> BuildMode:
    """The mode of the build about to start on the warehouse behind ``con``."""
    code = project_hash(project_dir, dbt_target())
    loaded_through = None
    if _table_exists(con, "ingest", "load_log"):
        loaded_through = con.execute("select max(logged_at) from ingest.load_log").fetchone()[0]

    reasons = []
    if requested_full:
        reasons.append("--full-refresh was given")
    state = None
    if _table_exists(con, "meta", "dbt_build_state"):
        state = con.execute(f"select code_hash, loaded_through from {STATE_TABLE}").fetchone()
    staging_tables = con.execute(
        "select count(*) from duckdb_tables() where schema_name = ?", [STAGING_SCHEMA]
    ).fetchone()[0]
    if state is None or not staging_tables:
        reasons.append("the warehouse has no staging tables from an earlier build yet")
    else:
        last_hash, last_loaded_through = state
        if last_hash != code:
            reasons.append(
                "the dbt project's code, registry or target changed since the last build"
            )
        unloaded = con.execute(
            "select system || '.' || entity || '/' || delivery_file from ingest.load_log "
            "where action = 'unloaded' and logged_at > coalesce(?, timestamp '1900-01-01') "
            "order by 1",
            [last_loaded_through],
        ).fetchall()
        if unloaded:
            names = ", ".join(name for (name,) in unloaded[:3])
            more = f" and {len(unloaded) - 3} more" if len(unloaded) > 3 else ""
            reasons.append(
                f"delivery files were removed or changed since the last build ({names}{more})"
            )
    if reasons:
        return BuildMode(True, "; ".join(reasons), code, loaded_through)
    return BuildMode(
        False, "staging recomputes only the keys loaded since the last build", code, loaded_through
    )


def record(con: duckdb.DuckDBPyConnection, mode: BuildMode) -> None:
    """Remember a successful build: the next run compares itself with it."""
    con.execute("create schema if not exists meta")
    con.execute(
        f"""
        create table if not exists {STATE_TABLE} (
            code_hash varchar not null,
            loaded_through timestamp,
            built_at timestamp not null,
            full_refresh boolean not null,
            reason varchar not null
        )
        """
    )
    con.execute("begin transaction")
    try:
        con.execute(f"delete from {STATE_TABLE}")
        # What the last build changed is now in every aggregate incremental by period.
        if _table_exists(con, "meta", "kpi_changed_from"):
            con.execute(f"delete from {CHANGES_TABLE}")
        con.execute(
            f"insert into {STATE_TABLE} values (?, ?, now()::timestamp, ?, ?)",
            [mode.code_hash, mode.loaded_through, mode.full, mode.reason],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
