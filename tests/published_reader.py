"""A BI tool stand-in: reads the published copy in a loop and checks every read.

Run as its own process (``python -m tests.published_reader PUBLISHED STOP_FILE OUT``) so
that it holds real DuckDB file handles while another process publishes. Each read
opens the file read-only as a BI tool would, and checks that it is one complete
publication: every table has the row count its manifest says, the values belong to the
definitions, and the Parquet folder behind ``current`` agrees with its own manifest.
Writes a JSON summary to OUT when STOP_FILE appears.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

import duckdb

from orchestration.publish.copy import PARQUET_MANIFEST, parquet_root_for


def check_duckdb(published: Path) -> tuple[str, int]:
    con = duckdb.connect(str(published), read_only=True)
    try:
        manifest = con.execute(
            "select table_name, row_count, publication_id from meta.published_tables"
        ).fetchall()
        ids = {row[2] for row in manifest}
        assert len(ids) == 1, f"one publication per copy, found {ids}"
        tables = {
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'kpi'"
            ).fetchall()
        }
        assert tables == {row[0] for row in manifest}, f"tables {tables} vs manifest"
        for table, expected, _ in manifest:
            actual = con.execute(f'select count(*) from kpi."{table}"').fetchone()[0]
            assert actual == expected, f"kpi.{table} has {actual} rows, manifest {expected}"
        orphans, kpis, defined = con.execute(
            """
            select
                (select count(*) from kpi.kpi_values v where not exists (
                    select 1 from kpi.kpi_definitions d
                    where d.kpi_id = v.kpi_id and d.definition_version = v.definition_version)),
                (select count(distinct kpi_id) from kpi.kpi_values),
                (select count(distinct kpi_id) from kpi.kpi_definitions where is_current)
            """
        ).fetchone()
        assert orphans == 0, f"{orphans} values without their definition"
        assert kpis == defined == 16, f"{kpis} KPIs with values, {defined} defined"
        values = next(row[1] for row in manifest if row[0] == "kpi_values")
        return ids.pop(), values
    finally:
        con.close()


def check_parquet(published: Path) -> str:
    # Resolved once: every table of the read comes from the same publication.
    version = Path(os.path.realpath(parquet_root_for(published) / "current"))
    manifest = json.loads((version / PARQUET_MANIFEST).read_text())
    con = duckdb.connect()
    try:
        for table, expected in manifest["tables"].items():
            path = str(version / f"{table}.parquet")
            actual = con.execute("select count(*) from read_parquet(?)", [path]).fetchone()[0]
            assert actual == expected, f"{table}.parquet has {actual} rows, manifest {expected}"
    finally:
        con.close()
    return manifest["publication_id"]


def main(published: Path, stop_file: Path, out: Path) -> None:
    reads = 0
    errors: list[str] = []
    publications: set[str] = set()
    parquet_publications: set[str] = set()
    value_counts: set[int] = set()
    waited = 0
    while not stop_file.exists():
        if not published.exists():
            waited += 1
            time.sleep(0.1)
            continue
        try:
            publication, values = check_duckdb(published)
            publications.add(publication)
            value_counts.add(values)
            parquet_publications.add(check_parquet(published))
            reads += 1
        except Exception as exc:  # every failure is the finding, not a crash
            errors.append(f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}")
        time.sleep(0.02)
    out.write_text(
        json.dumps(
            {
                "reads": reads,
                "errors": errors[:20],
                "error_count": len(errors),
                "publications": sorted(publications),
                "parquet_publications": sorted(parquet_publications),
                "kpi_values_counts": sorted(value_counts),
                "polls_before_first_copy": waited,
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
