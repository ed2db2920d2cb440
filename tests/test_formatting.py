"""Every way a number is printed lives in reports/formatting.py; values worked out by hand."""

from __future__ import annotations

from datetime import date

import duckdb

from reports.formatting import (
    format_brief,
    format_compact,
    format_exact,
    format_plain,
)
from reports.published import latest_complete_month_start


def test_plain_text_values_have_fixed_digits_per_unit():
    assert format_plain(0.9543, "ratio") == "95.4%"
    assert format_plain(3350530.4, "usd") == "$3,350,530.40"
    assert format_plain(1234.0, "count") == "1,234"
    assert format_plain(5.5, "hours") == "5.50 hours"
    assert format_plain(2.25, "days") == "2.25 days"
    assert format_plain(4.0912, "score") == "4.09"
    assert format_plain(None, "usd") == "n/a"


def test_registry_numbers_keep_every_digit_they_were_written_with():
    assert format_exact(0.925, "ratio") == "92.5%"
    assert format_exact(1000000.0, "usd") == "1,000,000 USD"
    assert format_exact(48.0, "hours") == "48 hours"
    assert format_exact(-2.5, "days") == "\u22122.5 days"
    assert format_exact(None, "count") == "none"


def test_brief_values_print_millions_of_dollars_in_millions():
    assert format_brief(48_210_000.0, "usd", 0) == "$48.21M"
    assert format_brief(-1_500_000.0, "usd", 0) == "\u2212$1.50M"
    assert format_brief(950_000.0, "usd", 0) == "$950,000"
    assert format_brief(0.954, "ratio", 1) == "95.4%"


def test_compact_values_have_four_significant_digits():
    assert format_compact(0.95432) == "0.9543"
    assert format_compact(1234.0) == "1,234"
    assert format_compact(None) == ""


def test_the_latest_complete_month_is_the_last_complete_company_month(tmp_path):
    con = duckdb.connect(str(tmp_path / "published.duckdb"))
    con.execute("create schema kpi")
    con.execute(
        "create table kpi.kpi_values (grain varchar, period_start date, dimension varchar, "
        "is_complete boolean)"
    )
    assert latest_complete_month_start(con) is None
    con.execute(
        "insert into kpi.kpi_values values "
        "('month', '2026-08-01', 'all', true), ('month', '2026-09-01', 'all', true), "
        "('month', '2026-09-01', 'region', true), ('month', '2026-10-01', 'all', false), "
        "('day', '2026-10-05', 'all', true)"
    )
    assert latest_complete_month_start(con) == date(2026, 9, 1)
    con.close()
