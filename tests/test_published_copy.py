"""BI tools read the published copy while the pipeline runs: never an error, never half a copy.

Five real pipeline runs (``kpi-warehouse run`` as a subprocess) one after the other, each
on more data than the last (a new day of deliveries, so the as-of date and every table
move), while a separate reader process queries the published DuckDB file and Parquet
folder in a loop. Then a run that fails on a broken delivery: the published file stays
byte for byte what it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestration.publish.copy import parquet_root_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "orchestration.cli"]
DAY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.(csv|parquet)$")
RUNS = 5


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(landing: Path, warehouse: Path) -> subprocess.CompletedProcess:
    # DAGSTER_HOME stays: the session's own instance (conftest), not the project's var/.
    # Great Expectations' folder stays too: this test process's own (conftest).
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPI_")}
    env["KPI_GX_DIR"] = os.environ["KPI_GX_DIR"]
    return subprocess.run(
        [*CLI, "run", "--landing-dir", str(landing), "--warehouse", str(warehouse)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env=env,
    )


def _split_by_day(full: Path, landing: Path, held_days: int) -> list[list[Path]]:
    """Copy the deliveries into ``landing`` but those of the last days; those, by day."""
    days = sorted(
        {m.group(1) for p in full.rglob("*") if (m := DAY_FILE.match(p.name)) and p.is_file()}
    )
    held = days[-held_days:]
    batches: dict[str, list[Path]] = {day: [] for day in held}
    for path in full.rglob("*"):
        if not path.is_file():
            continue
        m = DAY_FILE.match(path.name)
        if m and m.group(1) in batches:
            batches[m.group(1)].append(path.relative_to(full))
            continue
        target = landing / path.relative_to(full)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return [batches[day] for day in held]


def test_readers_see_whole_copies_through_consecutive_runs_and_a_failed_one(tmp_path):
    from orchestration.demo.generator import generate

    full, landing = tmp_path / "full", tmp_path / "landing"
    generate(full, scale=0.02, seed=23)
    batches = _split_by_day(full, landing, held_days=RUNS - 1)
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    published = warehouse.with_name("warehouse.published.duckdb")
    stop, summary = tmp_path / "stop", tmp_path / "reader.json"

    reader = subprocess.Popen(
        [sys.executable, "-m", "tests.published_reader", str(published), str(stop), str(summary)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        timings = []
        for run in range(RUNS):
            if run:
                for relative in batches[run - 1]:
                    target = landing / relative
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(full / relative, target)
            started = time.monotonic()
            result = _run(landing, warehouse)
            timings.append(round(time.monotonic() - started, 1))
            assert result.returncode == 0, result.stderr[-3000:]
            assert result.stdout.strip().splitlines()[-1] == f"published: {published}"
            assert reader.poll() is None, reader.communicate()[1][-3000:]

        before = _sha256(published)
        current = parquet_root_for(published) / "current"
        parquet_before = os.readlink(current)
        # A delivery without a required column cannot be read: the run fails at the extract.
        broken = landing / "sales" / "orders" / "2099-01-01.csv"
        broken.write_text("ordered_at,account_id,status\n2099-01-01T10:00:00Z,A1,placed\n")
        result = _run(landing, warehouse)
        assert result.returncode != 0
        assert "order_id" in result.stderr and "Nothing was published" in result.stderr
        time.sleep(1)  # a few more reads of the copy the failed run left alone
        assert _sha256(published) == before
        assert os.readlink(current) == parquet_before
    finally:
        stop.touch()
        try:
            _, err = reader.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            reader.kill()
            _, err = reader.communicate()

    assert reader.returncode == 0, err[-3000:]
    seen = json.loads(summary.read_text())
    assert seen["error_count"] == 0, "\n".join(seen["errors"])
    assert seen["reads"] >= 50, seen
    # The reads straddled publications, and the data really changed between them.
    assert len(seen["publications"]) >= 3, seen
    assert len(seen["parquet_publications"]) >= 3, seen
    assert len(seen["kpi_values_counts"]) >= 2, seen
    print(f"run times (s): {timings}; reads: {seen['reads']}")


def test_publishing_twice_keeps_a_bounded_number_of_parquet_versions(tmp_path):
    import duckdb

    from orchestration.publish.copy import PARQUET_VERSIONS_KEPT, publish_schema

    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    con.execute("create schema kpi")
    con.execute("create table kpi.kpi_values as select range as n from range(10)")
    published = tmp_path / "wh.published.duckdb"
    ids = []
    for _ in range(PARQUET_VERSIONS_KEPT + 3):
        publication = publish_schema(con, published)
        assert publication == {"kpi_values": 10}
        ids.append(publication.publication_id)
    con.close()
    versions = parquet_root_for(published) / "versions"
    kept = sorted(p.name for p in versions.iterdir())
    assert kept == sorted(ids)[-(PARQUET_VERSIONS_KEPT + 1) :]
    assert os.readlink(parquet_root_for(published) / "current") == f"versions/{ids[-1]}"
    assert not [p for p in published.parent.iterdir() if p.name.endswith(".tmp")]
    assert published.stat().st_mode & 0o222 == 0


def test_a_parquet_folder_copied_by_following_links_is_repaired_on_the_next_publish(tmp_path):
    import duckdb

    from orchestration.publish.copy import publish_schema

    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    con.execute("create schema kpi")
    con.execute("create table kpi.kpi_values as select range as n from range(3)")
    published = tmp_path / "wh.published.duckdb"
    publish_schema(con, published)
    copy_dir = tmp_path / "copy"
    shutil.copytree(tmp_path, copy_dir, ignore=shutil.ignore_patterns("copy"))
    copied_current = parquet_root_for(copy_dir / published.name) / "current"
    assert copied_current.is_dir() and not copied_current.is_symlink()
    publication = publish_schema(con, copy_dir / published.name)
    con.close()
    assert copied_current.is_symlink()
    assert os.readlink(copied_current) == f"versions/{publication.publication_id}"


def test_the_readme_sqlalchemy_url_reads_the_published_copy_read_only(tmp_path):
    import duckdb
    import sqlalchemy as sa

    from orchestration.publish.copy import publish_schema

    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    con.execute("create schema kpi")
    con.execute("create table kpi.kpi_values as select range as n from range(7)")
    published = tmp_path / "wh.published.duckdb"
    publish_schema(con, published)
    con.close()
    # What Superset and other SQLAlchemy clients are given (see README).
    engine = sa.create_engine(f"duckdb:///{published}?access_mode=read_only")
    try:
        with engine.connect() as connection:
            assert connection.execute(sa.text("select count(*) from kpi.kpi_values")).scalar() == 7
            assert "kpi_values" in sa.inspect(connection).get_table_names(schema="kpi")
            with pytest.raises(sa.exc.DBAPIError):
                connection.execute(sa.text("create table kpi.scratch (a integer)"))
    finally:
        engine.dispose()
