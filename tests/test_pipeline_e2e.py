"""End to end: the real command line on generated landing data, against the oracle.

`kpi-warehouse run` is started as a user would start it (a subprocess), on demo data
it has not been tuned to; every published KPI value is compared with the independent
reference implementation in tests/reference.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.reference import compute_kpi_values, load_landing_detailed, nonzero_slices

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "orchestration.cli"]
KEY = ["kpi_id", "grain", "period_start", "dimension", "dimension_value"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    from orchestration.demo.generator import generate

    root = tmp_path_factory.mktemp("landing")
    generate(root, scale=0.05, seed=11)
    return root


@pytest.fixture(scope="module")
def first_run(landing, tmp_path_factory):
    warehouse = tmp_path_factory.mktemp("wh") / "warehouse.duckdb"
    result = run_cli("run", "--landing-dir", str(landing), "--warehouse", str(warehouse))
    assert result.returncode == 0, result.stderr[-4000:]
    return warehouse, result


def read(path: Path, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def test_run_publishes_a_read_only_copy_named_on_the_last_line(first_run):
    warehouse, result = first_run
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("published: ")
    published = Path(last.removeprefix("published: "))
    assert published.exists() and published != warehouse
    tables = read(
        published,
        "select table_name from information_schema.tables where table_schema = 'kpi' order by 1",
    )
    assert {"kpi_definitions", "kpi_values"} <= set(tables.table_name)
    counts = read(published, "select count(distinct kpi_id) as kpis from kpi.kpi_values")
    assert counts.kpis[0] == 16


def test_every_delivered_row_is_loaded_or_quarantined(first_run, landing):
    warehouse, _ = first_run
    loads = load_landing_detailed(landing)
    files = read(warehouse, "select * from ingest.delivery_files")
    assert (files.rows_delivered == files.rows_loaded + files.rows_quarantined).all()
    for entity_name, load in loads.items():
        system, entity = entity_name.split(".")
        mine = files[(files.system == system) & (files.entity == entity)]
        assert dict(zip(mine.delivery_file, mine.rows_delivered, strict=True)) == {
            Path(name).name: rows for name, rows in load.rows_by_file.items()
        }, entity_name
        assert dict(zip(mine.delivery_file, mine.rows_quarantined, strict=True)) == {
            Path(name).name: invalid for name, invalid in load.invalid_by_file.items()
        }, entity_name
        raw = read(warehouse, f"select count(*) as n from raw_{system}.{entity}").n[0]
        quarantined = read(
            warehouse,
            f"select count(*) as n from ingest.quarantine "
            f"where system = '{system}' and entity = '{entity}'",
        ).n[0]
        assert raw == mine.rows_loaded.sum()
        assert quarantined == mine.rows_quarantined.sum()
        assert raw + quarantined == mine.rows_delivered.sum()


def _close(a, b) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    if b is None or (isinstance(b, float) and math.isnan(b)):
        return False
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def test_published_values_equal_the_reference_implementation(first_run, landing):
    warehouse, _ = first_run
    definitions = read(warehouse, "select * from kpi.kpi_definitions where is_current")
    expected = compute_kpi_values(
        landing,
        default_targets={
            r.kpi_id: (None if pd.isna(r.default_target) else r.default_target, r.amber_tolerance)
            for r in definitions.itertuples()
        },
        directions=dict(zip(definitions.kpi_id, definitions.direction, strict=True)),
    )
    actual = read(warehouse, "select * from kpi.kpi_values")
    actual["period_start"] = pd.to_datetime(actual.period_start).dt.date
    expected["period_start"] = pd.to_datetime(expected.period_start).dt.date

    required = nonzero_slices(expected)
    merged = required.merge(actual, on=KEY, how="left", suffixes=("_ref", ""), indicator=True)
    missing = merged[merged._merge == "left_only"]
    assert missing.empty, f"{len(missing)} required rows missing, e.g.\n{missing[KEY].head()}"

    both = expected.merge(actual, on=KEY, how="inner", suffixes=("_ref", ""))
    columns = [
        "numerator",
        "denominator",
        "value",
        "target",
        "variance",
        "status",
        "previous_value",
        "period_end",
        "is_complete",
    ]
    mismatches = []
    for column in columns:
        for row in both.itertuples():
            ref = getattr(row, f"{column}_ref")
            got = getattr(row, column)
            if column == "period_end":
                ref, got = pd.Timestamp(ref).date(), pd.Timestamp(got).date()
                ok = ref == got
            else:
                ok = _close(None if ref is pd.NA else ref, None if got is pd.NA else got)
            if not ok:
                mismatches.append((column, *[getattr(row, k) for k in KEY], ref, got))
    assert not mismatches, f"{len(mismatches)} mismatches, first: " + "\n".join(
        map(str, mismatches[:15])
    )
    # Rows the warehouse adds beyond the reference grid must be empty slices.
    extra = actual.merge(expected[KEY], on=KEY, how="left", indicator=True)
    extra = extra[extra._merge == "left_only"]
    assert (extra.numerator.fillna(0) == 0).all()


def test_a_second_run_on_the_same_landing_changes_nothing(first_run, landing):
    warehouse, _ = first_run
    before_log = read(warehouse, "select count(*) as n from ingest.load_log").n[0]
    before = read(warehouse, "select * from kpi.kpi_values order by all")
    result = run_cli("run", "--landing-dir", str(landing), "--warehouse", str(warehouse))
    assert result.returncode == 0, result.stderr[-3000:]
    after = read(warehouse, "select * from kpi.kpi_values order by all")
    assert read(warehouse, "select count(*) as n from ingest.load_log").n[0] == before_log
    # Bit-identical: exact decimal and integer arithmetic, no float sums.
    pd.testing.assert_frame_equal(before, after, check_exact=True)
