"""The GX Data Docs work offline and show what failed.

A real validation (the buffered DuckDB datasource, a failing rule) builds the site; every
page, stylesheet and script the pages load must stay on the site, and the failed rule's
page must say what its count counts and show its unexpected rows with their keys.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlparse

import duckdb
import pytest

from expectations.data_docs import CDN_ASSETS, DROPPED, SITE_VENDOR, VENDOR_DIR
from expectations.rules import MARKS_KPI_PERIODS, Rule
from expectations.runner import validate

FIRST_DAY = date(2025, 1, 1)
# Loopback is where `kpi-warehouse docs` serves the site; XML namespaces are names, not
# addresses a browser fetches.
ALLOWED_HOSTS = {"127.0.0.1", "localhost"}
NAMESPACES = re.compile(r"https?://www\.w3\.org/[0-9]{4}/[A-Za-z0-9/]*")
# Any absolute or protocol-relative address: in attributes, CSS url()/@import, scripts.
ADDRESS = re.compile(
    r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s\"'<>)]*|https?://[^\s\"'<>)]+"
)


def _rule(name: str, sql: str, marks: str = "days") -> Rule:
    return Rule(
        suite="sales.orders",
        table="t",
        name=name,
        kind="test",
        severity="warn",
        description=f"{name} finds nothing.",
        summary="{records} records on {days}",
        sql=sql,
        marks=marks,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("data_docs")
    warehouse = root / "w.duckdb"
    con = duckdb.connect(str(warehouse))
    # 3,000 orders, 100 a day over 30 days; those with v >= 70 are unexpected: 30 a day.
    con.execute(
        "create table t as select range as id, 'ORD-' || lpad(range::varchar, 5, '0') as "
        f"order_id, date '{FIRST_DAY}' + cast(range // 100 as integer) as day, "
        "range % 100 as v from range(3000)"
    )
    con.close()
    rules = [
        _rule(
            "high_values",
            "select day, count(*) as records, min(order_id) as example "
            "from {batch} where v >= 70 group by day",
        ),
        _rule(
            "high_kpi_values",
            "select 'orders' as kpi_id, 'day' as grain, day as period_start, "
            "count(*) as records, min(order_id) as example from {batch} "
            "where v >= 90 and day < date '2025-01-03' group by day",
            marks=MARKS_KPI_PERIODS,
        ),
        _rule(
            "no_negative_values",
            "select day, count(*) as records, min(order_id) as example "
            "from {batch} where v < 0 group by day",
        ),
    ]
    run = validate(warehouse, rules, root / "gx", run_name="offline")
    by_name = {o.rule.name: o for o in run.outcomes}
    return {"dir": root / "gx" / "data_docs", "run": run, "outcomes": by_name}


def _site_files(site_dir: Path) -> list[Path]:
    files = [p for ext in ("html", "css", "js") for p in site_dir.rglob(f"*.{ext}") if p.is_file()]
    assert any(p.name == "index.html" for p in files)
    return files


def test_a_generated_page_references_no_external_host(site):
    outside: list[str] = []
    for path in _site_files(site["dir"]):
        text = NAMESPACES.sub("", path.read_text(encoding="utf-8", errors="replace"))
        if SITE_VENDOR in path.relative_to(site["dir"]).parents:
            # Third-party files name their home pages in licence comments and messages;
            # what they load is in their CSS url()s, checked here.
            text = " ".join(re.findall(r"url\([^)]*\)|@import[^;]*", text))
        for address in ADDRESS.findall(text):
            host = urlparse(address if "://" in address else f"http:{address}").hostname
            if host not in ALLOWED_HOSTS:
                outside.append(f"{path.relative_to(site['dir'])}: {address}")
    assert not outside, outside[:20]


def test_pages_load_the_local_copies_of_their_assets(site):
    pages = [p for p in site["dir"].rglob("*.html")]
    assert len(pages) >= 3  # the index, the suite, the validation result
    for page in pages:
        html = page.read_text(encoding="utf-8")
        loaded = re.findall(r"<(?:script|link)\b[^>]*\b(?:src|href)=\"([^\"]+)\"", html)
        local = [u for u in loaded if "static/vendor/" in u]
        # jQuery, Bootstrap, bootstrap-table, Font Awesome, the datepicker, the dark theme.
        assert len(local) >= 10, (page, loaded)
        for url in local:
            assert (page.parent / url).resolve().is_file(), (page, url)
        assert "dataContextId" not in html and "logo-long.png" in html
    fonts = site["dir"] / SITE_VENDOR / "fontawesome" / "webfonts"
    assert (fonts / "fa-solid-900.woff2").is_file()
    assert (site["dir"] / SITE_VENDOR / "fontawesome" / "LICENSE.txt").is_file()


def test_every_cdn_address_of_the_gx_templates_is_vendored_or_dropped():
    """A GX upgrade that loads something new fails here, not silently on a user's screen."""
    import great_expectations

    templates = Path(great_expectations.__file__).parent / "render" / "view" / "templates"
    loaded = set()
    for template in templates.glob("*.j2"):
        text = template.read_text(encoding="utf-8")
        loaded |= set(
            re.findall(r"<(?:script|link)\b[^>]*\b(?:src|href)=\"(https?://[^\"]+)\"", text)
        )
    assert loaded, "the templates no longer load anything from a CDN: retire data_docs.py"
    assert loaded <= set(CDN_ASSETS) | DROPPED, loaded - set(CDN_ASSETS) - DROPPED
    for local in CDN_ASSETS.values():
        assert (VENDOR_DIR / local).is_file(), local


def test_a_failed_rule_shows_what_it_counts_and_a_sample_of_its_keys(site):
    outcome = site["outcomes"]["high_values"]
    assert not outcome.passed
    page = Path(outcome.docs_page).read_text(encoding="utf-8")
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    # 30 days, 30 orders each: the count is in days, and the records are counted too.
    assert "30 days with unexpected records (900 records)" in text
    assert "The first 20 of 30 unexpected days" in text
    # Each day's row: its date, its records and its smallest order, the first day's first.
    assert f"{FIRST_DAY.isoformat()} 30 ORD-00070" in text, text[:3000]
    shown = re.findall(r"\b2025-01-\d\d\b", text[text.find("The first 20 of 30") :])
    assert len(set(shown)) == 20 and max(shown) == (FIRST_DAY + timedelta(days=19)).isoformat()

    kpi = text[text.find("high_kpi_values") :]
    assert "2 KPI periods with unexpected records (20 records)" in kpi
    assert "kpi_id grain period_start records example" in kpi
    assert "orders day 2025-01-01 10 ORD-" in kpi

    passed = site["outcomes"]["no_negative_values"]
    assert passed.passed
    assert "no days with unexpected records" in text
