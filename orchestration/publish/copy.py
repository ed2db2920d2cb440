"""Publish the ``kpi`` schema as a read-only DuckDB file, swapped in atomically.

BI tools never read the working warehouse: a reader holds either the previous complete
copy or the new complete copy. The copy is written beside its final path and renamed
over it (an atomic replace on POSIX), so a reader that opens the path mid-publish
gets one whole file, and one with the old file open keeps reading it undisturbed.
"""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

import duckdb

PUBLIC_SCHEMA = "kpi"


def publish_schema(con: duckdb.DuckDBPyConnection, published_path: Path) -> dict[str, int]:
    """Copy every table of the public schema to ``published_path``; row counts by table."""
    published_path = Path(published_path)
    published_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = published_path.with_name(f".{published_path.name}.{uuid.uuid4().hex}.tmp")
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
        con.execute(f"attach '{tmp}' as publish_target")
        try:
            con.execute(f"create schema publish_target.{PUBLIC_SCHEMA}")
            for table in tables:
                con.execute(
                    f'create table publish_target.{PUBLIC_SCHEMA}."{table}" as '
                    f'select * from {PUBLIC_SCHEMA}."{table}"'
                )
                counts[table] = con.execute(
                    f'select count(*) from publish_target.{PUBLIC_SCHEMA}."{table}"'
                ).fetchall()[0][0]
        finally:
            con.execute("detach publish_target")
        os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        os.replace(tmp, published_path)
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)
    return counts
