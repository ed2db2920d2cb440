"""The extract's guards against hostile delivery files, one entity at a time (fast).

``test_hostile_files.py`` runs the same cases through the command line; these pin the
rules themselves: globs, symbolic links, files still being written, record length.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestration.ingestion.extract import (
    DeliveryError,
    _longest_csv_record,
    connect,
    ensure_schema,
    extract_entity,
)
from tests.test_extract import Warehouse, assert_accounting, ent, rows_of

Q = "crm.accounts"


@pytest.fixture
def wh(tmp_path) -> Iterator[Warehouse]:
    con = connect(tmp_path / "warehouse.duckdb")
    ensure_schema(con)
    warehouse = Warehouse(tmp_path / "warehouse.duckdb", tmp_path / "landing", con)
    yield warehouse
    con.close()


def load(wh: Warehouse, quiet_seconds: float = 0.0):
    result = extract_entity(wh.con, ent(Q), wh.landing, run_id="test", quiet_seconds=quiet_seconds)
    assert_accounting(wh.con)
    return result


def test_glob_characters_in_a_name_read_only_that_file(wh):
    names = {"a[1].csv": "G1", "a1.csv": "G2", "b*.csv": "G3", "bb.csv": "G4", "c?.csv": "G5"}
    for name, key in names.items():
        wh.write(Q, name, rows_of(Q, {"account_id": key}))

    load(wh)

    loaded = dict(wh.raw(Q, "_delivery_file, account_id"))
    assert loaded == names


def test_a_symbolic_link_inside_the_landing_directory_loads(wh):
    target = wh.landing / "archive" / "accounts.csv"
    target.parent.mkdir(parents=True)
    target.write_text(rows_of(Q, {"account_id": "L1"}))
    (wh.folder(Q) / "2026-10-30.csv").symlink_to(target)

    load(wh)

    assert wh.raw(Q, "_delivery_file, account_id") == [("2026-10-30.csv", "L1")]


@pytest.mark.parametrize(
    ("target", "words"),
    [("outside", "outside the landing directory"), ("missing", "does not exist")],
)
def test_a_symbolic_link_out_of_the_landing_directory_is_refused(wh, tmp_path, target, words):
    wh.write(Q, "2026-10-30.csv", rows_of(Q, {}))
    load(wh)
    before = wh.snapshot(Q)
    outside = tmp_path / "outside.csv"
    if target == "outside":
        outside.write_text(rows_of(Q, {"account_id": "SECRET"}))
    (wh.folder(Q) / "2026-10-31.csv").symlink_to(outside)

    with pytest.raises(DeliveryError) as raised:
        load(wh)

    message = str(raised.value)
    assert "2026-10-31.csv" in message and words in message
    assert "\n" not in message and message.endswith(".")
    assert wh.snapshot(Q) == before


def test_a_name_that_is_not_utf8_fails_with_one_sentence(wh):
    folder = wh.folder(Q)
    Path(os.fsdecode(os.fsencode(folder) + b"/caf\xe9.csv")).write_text(rows_of(Q, {}))

    with pytest.raises(DeliveryError, match=r"caf\\xe9\.csv.*not valid UTF-8"):
        load(wh)


def test_a_fresh_but_complete_file_loads_after_a_short_watch(wh):
    wh.write(Q, "2026-10-30.csv", rows_of(Q, {}))
    started = time.monotonic()

    result = load(wh, quiet_seconds=0.5)

    assert 0.4 <= time.monotonic() - started < 3
    assert result.warnings == []
    assert wh.raw(Q, "account_id") == [("A1",)]


def test_a_file_with_a_future_time_is_watched_then_loaded(wh):
    path = wh.write(Q, "2026-10-30.csv", rows_of(Q, {}))
    tomorrow = time.time() + 86400
    os.utime(path, (tomorrow, tomorrow))

    result = load(wh, quiet_seconds=0.3)

    assert result.warnings == []
    assert wh.raw(Q, "account_id") == [("A1",)]


def test_a_file_being_rewritten_keeps_its_earlier_load_until_it_settles(wh):
    path = wh.write(Q, "2026-10-30.csv", rows_of(Q, {}))
    wh.write(Q, "2026-10-29.csv", rows_of(Q, {"account_id": "A0"}))
    load(wh)
    stop, writing = threading.Event(), threading.Event()

    def rewrite() -> None:
        rows = 0
        while not stop.wait(0.05):
            rows += 1
            path.write_text(rows_of(Q, *({"account_id": f"N{i}"} for i in range(rows))))
            writing.set()

    writer = threading.Thread(target=rewrite, daemon=True)
    writer.start()
    assert writing.wait(5)
    try:
        result = load(wh, quiet_seconds=0.3)
    finally:
        stop.set()
        writer.join()

    [warning] = result.warnings
    assert "2026-10-30.csv of crm.accounts is still being written" in warning
    assert result.files_unloaded == []
    assert wh.raw(Q, "_delivery_file, account_id") == [
        ("2026-10-29.csv", "A0"),
        ("2026-10-30.csv", "A1"),
    ]
    # Once it has settled, the next load replaces the earlier version.
    load(wh, quiet_seconds=0.3)
    assert ("2026-10-30.csv", "A1") not in wh.raw(Q, "_delivery_file, account_id")


def test_longest_csv_record_counts_quoted_line_breaks_across_chunks(tmp_path):
    path = tmp_path / "long.csv"
    # A quoted field of 5 MiB spanning many lines and the reader's 4 MiB chunk boundary.
    field = '"' + "ab\r\n" * (5 << 18) + '"'
    path.write_bytes(f"h1,h2\nx,{field}\ny,z\n".encode())

    assert _longest_csv_record(path) == len("x,") + len(field)


def test_a_record_longer_than_16_mib_fails_the_file(wh):
    wh.write(Q, "2026-10-30.csv", rows_of(Q, {}).encode() + b'A2,"' + b"x" * (17 << 20))

    with pytest.raises(DeliveryError, match=r"record of 17 MiB.*at most 16 MiB"):
        load(wh)


def test_the_delivery_sensor_fingerprints_a_name_that_is_not_utf8(wh):
    from orchestration.operations.sensors import landing_fingerprint

    wh.write(Q, "2026-10-30.csv", rows_of(Q, {}))
    before = landing_fingerprint(wh.landing)
    Path(os.fsdecode(os.fsencode(wh.folder(Q)) + b"/caf\xe9.csv")).write_text("x")

    after = landing_fingerprint(wh.landing)

    assert (before.files, after.files) == (1, 2)
    assert after.digest != before.digest
