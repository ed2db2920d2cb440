"""The demo data generator: reproducible, complete, realistic enough, imperfect on purpose."""

from __future__ import annotations

import csv
import re
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from expectations.contract import ENTITIES
from orchestration.demo.generator import generate

SCALE = 0.05
OFFSET = re.compile(r"[+-]\d\d:\d\d$")


def _read(path: Path) -> pd.DataFrame:
    """A delivery file with every value as text (empty → missing), like the pipeline reads it."""
    if path.suffix == ".parquet":
        return pd.read_parquet(path).astype("string")
    return pd.read_csv(path, dtype="string", keep_default_na=False, na_values=[""])


def _read_entity(root: Path, system: str, name: str) -> pd.DataFrame:
    files = sorted((root / system / name).iterdir(), key=lambda p: p.name.encode())
    frames = [_read(p).assign(_file=p.name) for p in files]
    return pd.concat(frames, ignore_index=True)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    return root, generate(root, scale=SCALE, seed=42)


def test_same_seed_gives_identical_files_and_another_seed_does_not(demo, tmp_path):
    root, _ = demo
    generate(tmp_path / "again", scale=SCALE, seed=42)
    assert _snapshot(tmp_path / "again") == _snapshot(root)

    generate(tmp_path / "other", scale=SCALE, seed=7)
    other = _snapshot(tmp_path / "other")
    first = _snapshot(root)
    changed = [name for name in first if other.get(name) != first[name]]
    assert any(name.startswith("sales/orders/") for name in changed)
    assert len(changed) > len(first) / 2


def _header_and_rows(path: Path) -> tuple[list[str], int]:
    if path.suffix == ".parquet":
        meta = pq.read_metadata(path)
        return meta.schema.to_arrow_schema().names, meta.num_rows
    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    return table.column_names, table.num_rows


def test_every_entity_has_files_with_rows_and_its_columns(demo):
    root, summary = demo
    for entity in ENTITIES:
        files = list((root / entity.system / entity.name).iterdir())
        assert files, f"{entity.qualified_name} has no delivery file"
        total = 0
        for path in files:
            header, rows = _header_and_rows(path)
            total += rows
            missing = [
                c.name for c in entity.columns if c.must_be_delivered and c.name not in header
            ]
            assert not missing, f"{path} lacks {missing}"
        assert total > 0, entity.qualified_name
        assert total == summary.rows[entity.qualified_name]
    assert summary.files_written == sum(1 for p in root.rglob("*") if p.is_file())


def test_csv_and_parquet_are_both_used(demo):
    root, _ = demo
    suffixes = {p.suffix for p in root.rglob("*") if p.is_file()}
    assert suffixes == {".csv", ".parquet"}
    # One entity alternates formats between deliveries.
    assert {p.suffix for p in (root / "sales" / "orders").iterdir()} == {".csv", ".parquet"}


def test_file_names_sort_in_delivery_order(demo):
    root, _ = demo

    def last_day(name: str) -> date:
        stem = name.split(".")[0]
        if re.fullmatch(r"\d{4}-\d{2}", stem):  # a whole month
            year, month = map(int, stem.split("-"))
            following = date(year + month // 12, month % 12 + 1, 1)
            return date.fromordinal(following.toordinal() - 1)
        return date.fromisoformat(stem)

    for entity in ENTITIES:
        names = [p.name for p in (root / entity.system / entity.name).iterdir()]
        by_bytes = sorted(names, key=str.encode)
        assert by_bytes == sorted(names, key=last_day), entity.qualified_name
        assert len({last_day(n) for n in names}) == len(names)
    daily = [p.name for p in (root / "sales" / "orders").iterdir() if p.stem.count("-") == 2]
    assert len(daily) >= 14


def test_orders_grow_linearly_with_scale(tmp_path):
    counts = {}
    for scale in (0.1, 0.2):
        generate(tmp_path / str(scale), scale=scale)
        orders = _read_entity(tmp_path / str(scale), "sales", "orders")
        counts[scale] = orders["order_id"].dropna().nunique()
    assert 1.8 < counts[0.2] / counts[0.1] < 2.2
    assert 4_000 < counts[0.1] < 6_000


def test_later_deliveries_update_earlier_rows(demo):
    root, _ = demo
    orders = _read_entity(root, "sales", "orders")
    orders = orders[orders["_file"].str.count("-") == 2]  # the daily deliveries
    seen = orders.dropna(subset=["order_id"]).groupby("order_id")
    moved = seen.filter(lambda g: {"placed", "fulfilled"} <= set(g["status"].str.strip()))
    assert moved["order_id"].nunique() > 0
    first, last = moved.groupby("order_id").first(), moved.groupby("order_id").last()
    assert (first["status"] == "placed").all()
    assert last["fulfilled_at"].notna().all()


def test_a_few_invalid_rows_of_several_kinds(demo):
    root, summary = demo
    lines = _read_entity(root, "sales", "order_lines")
    quantity = pd.to_numeric(lines["quantity"], errors="coerce")
    price = pd.to_numeric(lines["unit_price"], errors="coerce")
    bad = (
        (quantity <= 0)
        | (price < 0)
        | (lines["unit_price"].notna() & price.isna())
        | lines["order_id"].isna()
    )
    assert 0 < bad.sum() <= 0.02 * len(lines)
    assert lines["discount_amount"].isna().any()  # null discount means 0, not invalid

    share = summary.total_invalid / summary.total_rows
    assert 0.002 < share < 0.02
    kinds = set(summary.invalid_kinds)
    assert {"null primary key", "null required column", "value outside enum"} <= kinds
    assert {"unparseable timestamp", "unparseable number"} <= kinds
    assert sum(1 for k in kinds if k.startswith("rule: ")) >= 5


def test_timestamps_with_offsets_denote_the_same_instant(demo):
    root, _ = demo
    orders = _read_entity(root, "sales", "orders").dropna(subset=["order_id", "ordered_at"])
    text = orders["ordered_at"]
    with_offset = text.str.contains(OFFSET)
    assert 0.05 < with_offset.mean() < 0.2
    instant = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    ok = instant.notna()
    # An order delivered twice, once in local time with an offset: the same instant.
    both = orders[ok].assign(instant=instant[ok]).groupby("order_id")["instant"].nunique()
    assert (both == 1).mean() > 0.99


def test_awkward_text_survives_csv_quoting(demo):
    root, _ = demo
    names = set()
    for path in (root / "crm" / "accounts").glob("*.csv"):
        with path.open(newline="", encoding="utf-8") as fh:
            names |= {row["account_name"] for row in csv.DictReader(fh)}
    assert "<b>Acme & Sons</b>" in names
    assert '"Quoted" Holdings, Inc.' in names
    assert "Zürich Versicherungs-Gesellschaft AG" in names


def test_story_on_time_delivery_drops_in_the_last_months(demo):
    root, _ = demo
    shipments = _read_entity(root, "ops", "shipments")
    shipments["updated"] = pd.to_datetime(shipments["updated_at"], utc=True, errors="coerce")
    latest = shipments.sort_values("updated").groupby("shipment_id").last()
    delivered = pd.to_datetime(latest["delivered_at"], utc=True, errors="coerce")
    promised = pd.to_datetime(latest["promised_at"], utc=True, errors="coerce")
    on_time = (delivered <= promised)[delivered.notna() & promised.notna()]
    month = delivered[on_time.index].dt.strftime("%Y-%m")
    rate = on_time.groupby(month).mean()
    assert rate.loc["2026-10"] < rate.loc[:"2026-06"].mean() - 0.05
