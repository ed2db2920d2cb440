"""Publish the ``kpi`` schema as a read-only DuckDB file and Parquet files, swapped atomically.

BI tools never read the working warehouse: a reader holds either the previous complete
copy or the new complete copy. The DuckDB copy is written beside its final path and
renamed over it (an atomic replace on POSIX), so a reader that opens the path mid-publish
gets one whole file, and one with the old file open keeps reading it undisturbed.

The Parquet files of one publication live in their own folder,
``<published>_parquet/versions/<publication id>/``, written completely before the
symbolic link ``<published>_parquet/current`` is switched to it (again an atomic rename).
Each file a reader opens through ``current`` is therefore complete; a reader that needs
several tables from one publication resolves ``current`` once (``os.path.realpath``) and
reads them from that folder. The previous versions stay for a while so that such a reader
is not pulled from under its feet.

Both formats carry the same manifest: row counts per table and the publication id, in
``meta.published_tables`` of the DuckDB file and in ``manifest.json`` of the Parquet folder.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import stat
import uuid
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from orchestration.crash_points import pause_point
from orchestration.durable import fsync_dir

PUBLIC_SCHEMA = "kpi"
MANIFEST_SCHEMA = "meta"
MANIFEST_TABLE = f"{MANIFEST_SCHEMA}.published_tables"
PARQUET_MANIFEST = "manifest.json"
# Versions of the Parquet folder kept besides the current one.
PARQUET_VERSIONS_KEPT = 2


class Publication(dict):
    """Row counts by table (as before), plus where and as what this publication went out."""

    def __init__(
        self,
        counts: dict[str, int],
        publication_id: str,
        published_at: datetime,
        path: Path,
        parquet_dir: Path,
        parquet_version_dir: Path,
    ):
        super().__init__(counts)
        self.publication_id = publication_id
        self.published_at = published_at
        self.path = path
        self.parquet_dir = parquet_dir
        self.parquet_version_dir = parquet_version_dir


def parquet_root_for(published_path: Path) -> Path:
    """The Parquet folder beside the published DuckDB file."""
    published_path = Path(published_path)
    return published_path.with_name(f"{published_path.stem}_parquet")


def _read_only(path: Path) -> None:
    os.chmod(path, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def _prune_versions(versions: Path, keep: Path) -> None:
    # Version names start with the UTC publication time, so name order is age order.
    done = sorted(
        (p for p in versions.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )
    older = [p for p in done if p != keep]
    for old in older[: max(len(older) - PARQUET_VERSIONS_KEPT, 0)]:
        shutil.rmtree(old, ignore_errors=True)
    for leftover in versions.glob(".*.tmp"):
        shutil.rmtree(leftover, ignore_errors=True)


def remove_leftovers(published_path: Path) -> list[Path]:
    """Remove the temporary files a killed publication left; the paths removed.

    Only safe while no publication is under way, i.e. with the warehouse's lock held.
    """
    published_path = Path(published_path)
    parquet_root = parquet_root_for(published_path)
    found = [
        *published_path.parent.glob(f".{glob.escape(published_path.name)}.*.tmp*"),
        *parquet_root.glob(".current.*.tmp"),
        *(parquet_root / "versions").glob(".*.tmp"),
    ]
    for path in found:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return found


def publication_ids(published_path: Path) -> tuple[str | None, str | None]:
    """The publication id of the DuckDB copy and of the Parquet folder's ``current``."""
    published_path = Path(published_path)
    duckdb_id = parquet_id = None
    # A copy from before publication ids (or one unreadable) counts as unknown: the
    # repair is then left to the next publication.
    if published_path.exists():
        try:
            con = duckdb.connect(str(published_path), read_only=True)
            try:
                query = f"select max(publication_id) from {MANIFEST_TABLE}"
                duckdb_id = con.execute(query).fetchone()[0]
            finally:
                con.close()
        except duckdb.Error:
            duckdb_id = None
    manifest = parquet_root_for(published_path) / "current" / PARQUET_MANIFEST
    try:
        parquet_id = json.loads(manifest.read_text())["publication_id"]
    except (OSError, ValueError, KeyError):
        parquet_id = None
    return duckdb_id, parquet_id


def complete_switch(published_path: Path) -> str | None:
    """Point the Parquet link at the DuckDB copy's publication if a kill came in between.

    A publication writes its Parquet version folder before it swaps the DuckDB file, so
    the folder is there to switch to. Only with the warehouse's lock held. The id switched
    to, or None when the two already agree.
    """
    published_path = Path(published_path)
    duckdb_id, parquet_id = publication_ids(published_path)
    parquet_root = parquet_root_for(published_path)
    if duckdb_id is None or duckdb_id == parquet_id:
        return None
    if not (parquet_root / "versions" / duckdb_id).is_dir():
        return None
    current = parquet_root / "current"
    if current.is_dir() and not current.is_symlink():
        return None  # a copied folder, not a link: the next publication repairs it
    link_tmp = parquet_root / f".current.{uuid.uuid4().hex}.tmp"
    os.symlink(Path("versions") / duckdb_id, link_tmp)
    os.replace(link_tmp, current)
    fsync_dir(parquet_root)
    return duckdb_id


def _fsync_tree(duckdb_file: Path, version_dir: Path) -> None:
    """Flush the new copy to disk before it replaces the old one.

    A rename is atomic for a process killed at any moment; after a power cut it is only
    as good as the data it points at, so the data reaches the disk first.
    """
    for path in [duckdb_file, *version_dir.iterdir()]:
        with path.open("rb") as fh:
            os.fsync(fh.fileno())
    fsync_dir(version_dir)
    fsync_dir(version_dir.parent)


def publish_schema(con: duckdb.DuckDBPyConnection, published_path: Path) -> Publication:
    """Copy every table of the public schema to ``published_path`` and to Parquet files.

    Returns the row counts by table (a dict, carrying the publication's id and paths).
    Nothing a reader can see changes unless every table was copied in both formats.
    """
    published_path = Path(published_path)
    published_path.parent.mkdir(parents=True, exist_ok=True)
    published_at = datetime.now(timezone.utc)
    # Microseconds first: ids sort in publication order (version pruning relies on it).
    publication_id = f"{published_at:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}"
    tmp = published_path.with_name(f".{published_path.name}.{uuid.uuid4().hex}.tmp")
    parquet_root = parquet_root_for(published_path)
    versions = parquet_root / "versions"
    version_dir = versions / publication_id
    version_tmp = versions / f".{publication_id}.tmp"
    current = parquet_root / "current"
    link_tmp = parquet_root / f".current.{uuid.uuid4().hex}.tmp"
    tables = [
        row[0]
        for row in con.execute(
            "select table_name from information_schema.tables "
            "where table_schema = ? and table_type = 'BASE TABLE' "
            "and table_catalog = current_database() order by table_name",
            [PUBLIC_SCHEMA],
        ).fetchall()
    ]
    counts: dict[str, int] = {}
    try:
        version_tmp.mkdir(parents=True)
        con.execute(f"attach '{tmp}' as publish_target")
        try:
            con.execute(f"create schema publish_target.{PUBLIC_SCHEMA}")
            for table in tables:
                target = f'publish_target.{PUBLIC_SCHEMA}."{table}"'
                con.execute(f'create table {target} as select * from {PUBLIC_SCHEMA}."{table}"')
                counts[table] = con.execute(f"select count(*) from {target}").fetchall()[0][0]
                # From the copy, not the warehouse: both formats hold the very same rows.
                parquet_file = str(version_tmp / f"{table}.parquet").replace("'", "''")
                con.execute(f"copy {target} to '{parquet_file}' (format parquet)")
            con.execute(f"create schema publish_target.{MANIFEST_SCHEMA}")
            con.execute(
                f"create table publish_target.{MANIFEST_TABLE} (publication_id varchar, "
                "published_at timestamp, table_schema varchar, table_name varchar, "
                "row_count bigint)"
            )
            con.executemany(
                f"insert into publish_target.{MANIFEST_TABLE} values (?, ?, ?, ?, ?)",
                [
                    [publication_id, published_at.replace(tzinfo=None), PUBLIC_SCHEMA, t, n]
                    for t, n in counts.items()
                ],
            )
        finally:
            con.execute("detach publish_target")
        (version_tmp / PARQUET_MANIFEST).write_text(
            json.dumps(
                {
                    "publication_id": publication_id,
                    "published_at": published_at.isoformat(),
                    "schema": PUBLIC_SCHEMA,
                    "tables": counts,
                },
                indent=2,
            )
        )
        for path in version_tmp.iterdir():
            _read_only(path)
        os.rename(version_tmp, version_dir)
        _read_only(tmp)
        _fsync_tree(tmp, version_dir)
        pause_point("publish-written")
        # The two swaps: each is atomic; between them (microseconds) the DuckDB copy is
        # already the new one and the Parquet folder still the previous one.
        os.replace(tmp, published_path)
        pause_point("publish-switch")
        os.symlink(Path("versions") / publication_id, link_tmp)
        if current.is_dir() and not current.is_symlink():
            # A copy of the folder made by a tool that follows links (cp -r, copytree):
            # a rename cannot replace a directory, so that one switch is not atomic.
            shutil.rmtree(current)
        os.replace(link_tmp, current)
        fsync_dir(parquet_root)
        fsync_dir(published_path.parent)
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal"), link_tmp):
            if leftover.is_symlink() or leftover.exists():
                leftover.unlink()
        if version_tmp.exists():
            shutil.rmtree(version_tmp, ignore_errors=True)
    _prune_versions(versions, keep=version_dir)
    return Publication(
        counts,
        publication_id=publication_id,
        published_at=published_at,
        path=published_path,
        parquet_dir=current,
        parquet_version_dir=version_dir,
    )
