"""The calibration of the gates, rule by rule, on small real DuckDB files (fast).

What blocks and what warns by default, the blocking variants past a share, each KPI's
bounds, and the state tables a second identical run must leave as they were
(``quality.check_marks``, ``kpi.kpi_alerts``). The whole path through the command line
is in tests/test_stable_reruns.py and tests/test_quality.py.
"""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pytest
import yaml

from expectations.config import DEFAULT_CONFIG_PATH, QualityConfig, QualityConfigError
from expectations.entity_rules import entity_rules
from expectations.kpi_rules import kpi_rules
from expectations.rules import BLOCKING_SUFFIX, TimeFrame
from expectations.runner import RuleOutcome, store_results
from orchestration.operations import alerts as al

TF = TimeFrame(as_of=date(2026, 10, 31), first_day=date(2024, 9, 1))


@pytest.fixture(scope="module")
def config() -> QualityConfig:
    return QualityConfig.load()


def test_by_default_odd_rows_warn_and_only_their_blocking_variants_block(config):
    rules = entity_rules(config, TF)
    blocking = {(r.suite, r.name) for r in rules if r.blocking}
    assert blocking == {
        ("sales.order_lines", "discount_exceeds_line_amount_blocking"),
        ("sales.order_lines", "price_outlier_blocking"),
        ("sales.orders", "currency_without_fx_rate_blocking"),
        ("crm.marketing_spend", "currency_without_fx_rate_blocking"),
    }
    odd = {"discount_exceeds_line_amount", "price_outlier", "freshness", "volume"}
    odd |= {"duplicate_keys", "quarantined_share", "currency_without_fx_rate"}
    warned = {r.name for r in rules if not r.blocking}
    assert odd <= warned
    assert all(r.name.startswith("orphan_") for r in rules if r.kind == "orphan_keys")
    assert all(not r.blocking for r in rules if r.kind == "orphan_keys")
    discount = next(r for r in rules if r.name == "discount_exceeds_line_amount_blocking")
    assert "delivery file of at least 100 rows, at most 1.0%" in discount.description


def test_a_block_map_adds_a_blocking_check_for_any_rule(tmp_path):
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    raw["entity_rules"]["freshness"]["block"] = {"max_lag_days": 30}
    raw["entity_rules"]["orphan_keys"]["block"] = {"max_share": 0.5, "min_rows": 100}
    path = tmp_path / "quality.yml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    rules = {(r.suite, r.name): r for r in entity_rules(QualityConfig.load(path), TF)}
    stale = rules[("crm.tickets", "freshness" + BLOCKING_SUFFIX)]
    assert stale.blocking and "at most 30 days" in stale.description
    assert not rules[("crm.tickets", "freshness")].blocking
    assert rules[("sales.orders", "orphan_account_id" + BLOCKING_SUFFIX)].blocking


def test_a_block_threshold_that_is_not_a_map_is_one_clear_sentence(tmp_path):
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    raw["entity_rules"]["discount_exceeds_line_amount"]["block"] = 0.01
    path = tmp_path / "quality.yml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(QualityConfigError, match=r"discount_exceeds_line_amount\.block must be"):
        QualityConfig.load(path)


# --- bounds -------------------------------------------------------------------------------

UNITS = {
    "win_rate": "ratio",
    "gross_margin_rate": "ratio",
    "defect_rate": "ratio",
    "csat_score": "score",
    "revenue": "usd",
    "average_order_value": "usd",
    "ticket_backlog": "count",
    "first_response_time_hours": "hours",
}


def _kpi_warehouse(path, values) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute("create schema kpi")
    con.execute("create table kpi.kpi_definitions (kpi_id varchar, unit varchar, is_current bool)")
    con.executemany("insert into kpi.kpi_definitions values (?, ?, true)", list(UNITS.items()))
    con.execute(
        "create table kpi.kpi_values (kpi_id varchar, grain varchar, period_start date, "
        "dimension varchar, dimension_value varchar, numerator double, denominator double, "
        "value double)"
    )
    rows = [
        (kpi, "day", date(2026, 1, day), "all", "all", num, den, value)
        for day, (kpi, num, den, value) in enumerate(values, 1)
    ]
    con.executemany("insert into kpi.kpi_values values (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return con


def _offending(con, config) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for rule in kpi_rules(config):
        if rule.name.endswith("_within_bounds"):
            found[rule.name] = {row[0] for row in con.execute(rule.query()).fetchall()}
    return found


def test_each_kpi_is_bounded_by_what_its_formula_makes_impossible(config, tmp_path):
    possible = [
        ("gross_margin_rate", -29.0, 100.0, -0.29),  # a region-day sold below cost
        ("gross_margin_rate", 150.0, -100.0, -1.5),  # net-negative revenue: not judged
        ("revenue", -120.0, None, -120.0),  # negative net lines
        ("average_order_value", -40.0, 3.0, -13.3),
        ("win_rate", 3.0, 3.0, 1.0),
        ("csat_score", 5.0, 1.0, 5.0),
        ("ticket_backlog", 0.0, None, 0.0),
    ]
    con = _kpi_warehouse(tmp_path / "possible.duckdb", possible)
    assert _offending(con, config) == {
        "rate_within_bounds": set(),
        "score_within_bounds": set(),
        "value_within_bounds": set(),
    }
    con.close()
    impossible = [
        ("gross_margin_rate", 150.0, 100.0, 1.5),  # needs a negative cost
        ("win_rate", 4.0, 3.0, 1.33),
        ("defect_rate", -1.0, 10.0, -0.1),
        ("csat_score", 0.5, 1.0, 0.5),
        ("ticket_backlog", -1.0, None, -1.0),
        ("first_response_time_hours", -2.0, 1.0, -2.0),
    ]
    con = _kpi_warehouse(tmp_path / "impossible.duckdb", impossible)
    assert _offending(con, config) == {
        "rate_within_bounds": {"gross_margin_rate", "win_rate", "defect_rate"},
        "score_within_bounds": {"csat_score"},
        "value_within_bounds": {"ticket_backlog", "first_response_time_hours"},
    }
    con.close()
    assert all(r.blocking for r in kpi_rules(config) if r.name.endswith("_within_bounds"))


# --- what a second run must leave as it was -----------------------------------------------


def _outcomes(config, days) -> list[RuleOutcome]:
    rules = [r for r in entity_rules(config, TF) if r.suite == "sales.order_lines"]
    outcomes = [RuleOutcome(rule=r, passed=True) for r in rules]
    outcomes[0] = RuleOutcome(rule=rules[0], passed=False, marks=[(d,) for d in days], records=2)
    return outcomes


def test_marks_are_state_and_results_a_log(config, tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    days = [date(2025, 6, 3), date(2025, 6, 4)]
    store_results(con, "run-1", _outcomes(config, days))
    marks = "select * from quality.check_marks order by all"
    first = con.execute(marks).fetchall()
    results = con.execute("select * from quality.check_results order by all").fetchall()
    assert [m[2] for m in first] == days
    store_results(con, "run-2", _outcomes(config, days))
    assert con.execute(marks).fetchall() == first
    after = con.execute("select * from quality.check_results order by all").fetchall()
    assert set(results) <= set(after) and len(after) == 2 * len(results)
    # A later result replaces the check's marks.
    store_results(con, "run-3", _outcomes(config, days[1:]))
    assert [m[2] for m in con.execute(marks).fetchall()] == days[1:]
    con.close()


def test_marks_of_the_layout_with_run_ids_migrate(config, tmp_path):
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    con.execute("create schema quality")
    con.execute(
        "create table quality.check_marks (run_id varchar not null, suite varchar not null, "
        "check_name varchar not null, day date, kpi_id varchar, grain varchar, "
        "period_start date)"
    )
    con.execute(
        "insert into quality.check_marks values ('old', 'sales.orders', 'orphan_account_id', "
        "date '2025-01-04', null, null, null)"
    )
    store_results(con, "new", _outcomes(config, [date(2025, 6, 3)]))
    rows = con.execute(
        "select suite, check_name, day from quality.check_marks order by all"
    ).fetchall()
    assert ("sales.orders", "orphan_account_id", date(2025, 1, 4)) in rows
    assert len(rows) == 2
    con.close()


def _alert(**changes) -> dict:
    row = {name: None for name, _ in al.ALERT_COLUMNS}
    row.update(alert_id="win_rate/month/all=all/2026-05-01", kpi_id="win_rate", state="open")
    row.update(periods_alerting=3, last_value=0.21, evaluated_at=datetime(2026, 11, 1, 6))
    row.update(changes)
    return row


def test_an_unchanged_alert_keeps_when_it_was_first_evaluated(tmp_path):
    con = duckdb.connect(str(tmp_path / "alerts.duckdb"))
    al.store_alerts(con, [_alert()])
    first = con.execute("select * from kpi.kpi_alerts").fetchall()
    al.store_alerts(con, [_alert(evaluated_at=datetime(2026, 11, 2, 6))])
    assert con.execute("select * from kpi.kpi_alerts").fetchall() == first
    later = datetime(2026, 12, 1, 6)
    al.store_alerts(con, [_alert(periods_alerting=4, evaluated_at=later)])
    (evaluated_at,) = con.execute("select evaluated_at from kpi.kpi_alerts").fetchone()
    assert evaluated_at == later
    con.close()
