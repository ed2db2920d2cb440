"""The counts the rules keep per month or per delivery file equal a full count.

One small warehouse loaded by the real extract, then changed the way deliveries change
it. After every change the counts are brought up to date as a daily run does (only the
months and files the change can reach) and must equal, unit for unit, what counting
every record finds; each rule's marks must equal those of its query over every unit.
The orphan thresholds are lowered so that a single orphan flags its month.
"""

from __future__ import annotations

import csv
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
import yaml

from expectations.config import DEFAULT_CONFIG_PATH, QualityConfig
from expectations.entity_dates import time_frame
from expectations.entity_rules import entity_rules
from expectations.kept_counts import COUNTS_TABLE, STATE_TABLE, refresh_counts
from orchestration.ingestion.extract import connect, extract_all

HELD_DAYS = 2


def _write_csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _row(con, sql: str) -> dict:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    values = cursor.fetchone()
    return {
        n: "" if v is None else (v.strftime("%Y-%m-%dT%H:%M:%SZ") if hasattr(v, "hour") else str(v))
        for n, v in zip(names, values, strict=True)
        if not n.startswith("_")
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from orchestration.demo.generator import generate

    root = tmp_path_factory.mktemp("kept_counts")
    full, landing = root / "full", root / "landing"
    generate(full, scale=0.01, seed=5)
    days = sorted({p.stem for p in full.rglob("20??-??-??.csv")})[-HELD_DAYS:]
    held = []
    for path in full.rglob("*"):
        if path.is_file():
            target = landing / path.relative_to(full)
            if path.stem in days:
                held.append(path.relative_to(full))
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["entity_rules"]["orphan_keys"].update(max_share=0.0, min_records=1)
    # A one-line delivery can block, so that a file's count decides a mark.
    raw["entity_rules"]["discount_exceeds_line_amount"]["block"].update(
        max_share=0.5, min_rows=1, min_records=1
    )
    config_path = root / "quality.yml"
    config_path.write_text(yaml.safe_dump(raw))
    return {
        "full": full,
        "landing": landing,
        "held": held,
        "days": days,
        "config": QualityConfig.load(config_path),
        "warehouse": root / "warehouse.duckdb",
    }


def _counted_rules(con, config, as_of: str | None = None):
    tf = time_frame(con, as_of)
    return [r for r in entity_rules(config, tf) if r.counts is not None]


def _assert_kept_counts_are_full_counts(con, rules) -> None:
    for rule in rules:
        key = [rule.suite, rule.counts.check_name]
        kept = con.execute(
            f"select unit, records, offending from {COUNTS_TABLE} "
            "where suite = ? and check_name = ? order by unit",
            key,
        ).fetchall()
        counted = con.execute(
            f"select cast(unit as varchar), records, offending from "
            f"({rule.counts.sql(None).replace('{batch}', rule.table)}) "
            "where records > 0 order by 1"
        ).fetchall()
        assert kept == counted, key
        assert (
            con.execute(rule.query()).fetchall()
            == con.execute(
                rule.counts.whole.replace("{batch}", f"(select * from {rule.table})")
            ).fetchall()
        ), key


def _units(con, rule) -> int:
    return con.execute(
        f"select units_counted from {STATE_TABLE} where suite = ? and check_name = ?",
        [rule.suite, rule.counts.check_name],
    ).fetchone()[0]


def test_kept_counts_follow_deliveries_corrections_late_parents_and_the_as_of_date(world):
    landing, config = world["landing"], world["config"]
    con = connect(world["warehouse"])
    try:
        extract_all(con, landing)
        rules = _counted_rules(con, config)
        names = {(r.suite, r.name) for r in rules}
        assert ("sales.order_lines", "discount_exceeds_line_amount") in names
        assert ("sales.orders", "currency_without_fx_rate") in names
        assert ("crm.leads", "duplicate_keys") in names
        # The blocking variants, judged per delivery file, count their files.
        assert ("sales.order_lines", "discount_exceeds_line_amount_blocking") in names
        assert ("sales.orders", "currency_without_fx_rate_blocking") in names
        # The price medians read every line of history: that rule counts in its query.
        assert ("sales.order_lines", "price_outlier") not in names

        runs = refresh_counts(con, rules)
        assert all(r.full and "no counts" in r.reason for r in runs)
        _assert_kept_counts_are_full_counts(con, rules)
        total_months = max(r.units for r in runs if r.unit == "month")
        assert total_months > 12
        line_files = next(
            r.units for r in runs if r.check_name == "discount_exceeds_line_amount_blocking"
        )

        # A day's deliveries; an order of an old month for an account not delivered yet,
        # with a line of a product nobody delivered and a discount larger than the line;
        # an old order moved to another month by its correction.
        for relative in [p for p in world["held"] if p.stem == world["days"][0]]:
            target = landing / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(world["full"] / relative, target)
        orphan = _row(
            con,
            "select * from raw_sales.orders where ordered_at < timestamp '2025-03-01' "
            "order by order_id limit 1",
        )
        orphan.update(order_id="ORD-LATE-1", account_id="ACC-LATE-1")
        moved = _row(
            con,
            "select * from raw_sales.orders where ordered_at < timestamp '2025-06-01' "
            "and ordered_at >= timestamp '2025-05-01' order by order_id limit 1",
        )
        moved.update(ordered_at="2025-01-15T10:00:00Z", updated_at="2026-10-30T09:00:00Z")
        _write_csv(landing / "sales" / "orders" / "late.csv", [orphan, moved])
        # The late line belongs to the late order: the moved order's lines move with it
        # although none of them was delivered again.
        line = _row(con, "select * from raw_sales.order_lines limit 1")
        line.update(
            order_id="ORD-LATE-1", line_number="1", product_id="PRD-NOBODY",
            discount_amount="999999",
        )  # fmt: skip
        _write_csv(landing / "sales" / "order_lines" / "late.csv", [line])
        # An export that wrote a lead twice.
        lead = _row(con, "select * from raw_crm.leads order by lead_id limit 1")
        others = [
            _row(con, f"select * from raw_crm.leads order by lead_id limit 1 offset {n}")
            for n in range(1, 5)
        ]
        _write_csv(landing / "crm" / "leads" / "twice.csv", [lead, *others, lead])
        extract_all(con, landing)
        rules = _counted_rules(con, config)
        runs = refresh_counts(con, rules)
        assert not any(r.full for r in runs)
        _assert_kept_counts_are_full_counts(con, rules)
        orders = next(r for r in rules if r.suite == "sales.orders" and "orphan" in r.name)
        assert 2 <= _units(con, orders) < total_months
        marked = {d for (d, *_rest) in con.execute(orders.query()).fetchall()}
        assert date.fromisoformat(orphan["ordered_at"][:10]) in marked
        for name in (
            "discount_exceeds_line_amount",
            "discount_exceeds_line_amount_blocking",
            "orphan_product_id",
        ):
            lines = next(r for r in rules if r.name == name)
            marked = {d for (d, *_rest) in con.execute(lines.query()).fetchall()}
            assert date.fromisoformat(orphan["ordered_at"][:10]) in marked, name
        # The day's file, the late one and the files of the moved order's lines.
        blocking = next(r for r in rules if r.name == "discount_exceeds_line_amount_blocking")
        assert 2 <= _units(con, blocking) < line_files
        leads = next(r for r in rules if r.suite == "crm.leads" and r.name == "duplicate_keys")
        assert 1 <= _units(con, leads) <= 2  # the day's file and the repeated one
        marked = {d for (d, *_rest) in con.execute(leads.query()).fetchall()}
        assert date.fromisoformat(lead["created_at"][:10]) in marked

        # The account arrives a day late: its order is an orphan no more.
        account = _row(con, "select * from raw_crm.accounts order by account_id limit 1")
        account.update(account_id="ACC-LATE-1")
        _write_csv(landing / "crm" / "accounts" / "late.csv", [account])
        for relative in [p for p in world["held"] if p.stem == world["days"][1]]:
            target = landing / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(world["full"] / relative, target)
        extract_all(con, landing)
        rules = _counted_rules(con, config)
        runs = refresh_counts(con, rules)
        assert not any(r.full for r in runs)
        _assert_kept_counts_are_full_counts(con, rules)
        orders = next(r for r in rules if r.suite == "sales.orders" and "orphan" in r.name)
        marked = {d for (d, *_rest) in con.execute(orders.query()).fetchall()}
        assert date.fromisoformat(orphan["ordered_at"][:10]) not in marked

        # A run as of forty days before: records leave the judged span.
        latest = time_frame(con).as_of
        rules = _counted_rules(con, config, (latest - timedelta(days=40)).isoformat())
        runs = refresh_counts(con, rules)
        assert not any(r.full for r in runs)
        _assert_kept_counts_are_full_counts(con, rules)
        # Then a correction moves an old order past that as-of date: its lines leave the
        # judged span, though none of them was delivered again.
        back = latest - timedelta(days=40)
        corrected = _row(
            con,
            f"select * from raw_sales.orders where ordered_at < date '{back}' - 100 "
            "and order_id in (select order_id from raw_sales.order_lines) "
            "order by order_id limit 1",
        )
        newest = con.execute("select max(updated_at) from raw_sales.orders").fetchone()[0]
        corrected.update(
            ordered_at=f"{back + timedelta(days=10)}T10:00:00Z",
            fulfilled_at="",
            status="placed",
            updated_at=(newest + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        _write_csv(landing / "sales" / "orders" / "corrected.csv", [corrected])
        extract_all(con, landing)
        rules = _counted_rules(con, config, back.isoformat())
        runs = refresh_counts(con, rules)
        assert not any(r.full for r in runs)
        _assert_kept_counts_are_full_counts(con, rules)
        # And back to the latest day.
        rules = _counted_rules(con, config)
        refresh_counts(con, rules)
        _assert_kept_counts_are_full_counts(con, rules)

        # A removed delivery file takes rows away, which no watermark sees: count again.
        (landing / "sales" / "orders" / "late.csv").unlink()
        extract_all(con, landing)
        rules = _counted_rules(con, config)
        runs = refresh_counts(con, rules)
        assert all(r.full and "removed or changed" in r.reason for r in runs)
        _assert_kept_counts_are_full_counts(con, rules)
        # A full refresh counts everything, whatever the state.
        runs = refresh_counts(con, rules, full_refresh=True)
        assert all(r.full and "full refresh" in r.reason for r in runs)
        _assert_kept_counts_are_full_counts(con, rules)
    finally:
        con.close()


@pytest.fixture
def counted(world, tmp_path):
    """A warehouse of the landing folder as it stands, its counts kept once."""
    con = connect(tmp_path / "warehouse.duckdb")
    try:
        extract_all(con, world["landing"])
        rules = _counted_rules(con, world["config"])
        refresh_counts(con, rules)
        yield con, rules
    finally:
        con.close()


def test_a_changed_rule_counts_every_month_again(counted, tmp_path):
    con, rules = counted
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    # Thresholds do not change what a month counts: the counts stay.
    raw["entity_rules"]["discount_exceeds_line_amount"]["max_share"] = 0.5
    path = tmp_path / "quality.yml"
    path.write_text(yaml.safe_dump(raw))
    rules = _counted_rules(con, QualityConfig.load(path))
    assert not any(r.full for r in refresh_counts(con, rules))
    _assert_kept_counts_are_full_counts(con, rules)
    # Counting something else does.
    con.execute("delete from quality.rule_unit_state where check_name = 'orphan_account_id'")
    con.execute(
        "update quality.rule_unit_state set fingerprint = 'older' "
        "where check_name = 'discount_exceeds_line_amount'"
    )
    runs = {(r.suite, r.check_name): r for r in refresh_counts(con, rules)}
    assert (
        "counting SQL changed" in runs[("sales.order_lines", "discount_exceeds_line_amount")].reason
    )
    assert "no counts" in runs[("sales.orders", "orphan_account_id")].reason
    assert not runs[("ops.shipments", "orphan_order_id")].full
    _assert_kept_counts_are_full_counts(con, rules)


def test_counts_roll_back_with_a_failed_refresh(counted):
    con, rules = counted
    before = con.execute(f"select * from {COUNTS_TABLE} order by all").fetchall()
    state = con.execute(f"select * from {STATE_TABLE} order by all").fetchall()
    # A rule whose counting fails half-way through the rules.
    broken = rules[-1].counts
    from dataclasses import replace

    bad = replace(rules[-1], counts=replace(broken, sql=lambda months: "select nonsense"))
    with pytest.raises(duckdb.Error):
        refresh_counts(con, [*rules[:-1], bad], full_refresh=True)
    assert con.execute(f"select * from {COUNTS_TABLE} order by all").fetchall() == before
    assert con.execute(f"select * from {STATE_TABLE} order by all").fetchall() == state
