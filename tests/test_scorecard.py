"""The monthly scorecard: numbers read back from the PDF, delivery to a real SMTP server,
untrusted text, the archive, the command line and the Dagster partitions.

One warehouse is built for the module by the real pipeline on generated data; edge
cases (injected markup, all red, long names, quality results) are copies of its
published file with a few rows changed, so every render reads a real warehouse.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from orchestration.settings import published_path_for
from reports.formatting import decimals_for, format_difference, format_value
from tests.tls_helpers import self_signed_certificate

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "orchestration.cli"]
IMG = '<img src="file:///etc/passwd">'


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    from orchestration.demo.generator import generate

    root = tmp_path_factory.mktemp("scorecard")
    generate(root / "landing", scale=0.05, seed=7)
    path = root / "warehouse.duckdb"
    result = subprocess.run(
        [*CLI, "run", "--landing-dir", str(root / "landing"), "--warehouse", str(path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return path


@pytest.fixture(scope="module")
def published(warehouse) -> Path:
    return published_path_for(warehouse)


@pytest.fixture(scope="module")
def month(published) -> str:
    from reports.scorecard import latest_complete_month

    return latest_complete_month(published)


@pytest.fixture(scope="module")
def commentary(tmp_path_factory) -> Path:
    # An empty folder: the tests never read the project's own commentary files.
    return tmp_path_factory.mktemp("no_commentary")


@pytest.fixture(scope="module")
def rendered(published, month, commentary, tmp_path_factory):
    from reports.scorecard import render_month

    out = tmp_path_factory.mktemp("archive")
    archived, scorecard, result = render_month(
        published, month, out, run_id="run-1", commentary_dir=commentary
    )
    return archived, scorecard, result, out


def pdf_pages(path: Path, layout: bool = True) -> list[str]:
    """The text of each page: ``layout`` keeps table rows on one line; without it, text
    comes in reading order (side-by-side columns are not interleaved)."""
    text = subprocess.run(
        ["pdftotext", *(["-layout"] if layout else []), str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return text.split("\f")


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def query(path: Path, sql: str, params=None) -> list[dict]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        cursor = con.execute(sql, params or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def variant(published: Path, folder: Path, statements: list[tuple[str, list]]) -> Path:
    """A copy of the published warehouse with some rows changed."""
    path = folder / "variant.published.duckdb"
    shutil.copy(published, path)
    con = duckdb.connect(str(path))
    try:
        for sql, params in statements:
            con.execute(sql, params)
    finally:
        con.close()
    return path


def month_rows(path: Path, month: str) -> list[dict]:
    return query(
        path,
        "select v.kpi_id, v.value, v.target, v.variance, v.status, d.name, d.unit, d.owner, "
        "d.default_target, d.amber_tolerance from kpi.kpi_values v "
        "join kpi.kpi_definitions d on d.kpi_id = v.kpi_id and d.is_current "
        "where v.grain = 'month' and v.dimension = 'all' and v.period_start = ?",
        [date.fromisoformat(month + "-01")],
    )


# --- the numbers ---------------------------------------------------------------------------


_NUMBER = re.compile(r"[+\u2212]?\$?[\d,]+(?:\.\d+)?")


def _parse(text: str, unit: str) -> float:
    sign = -1.0 if text.startswith("\u2212") else 1.0
    number = float(re.sub(r"[^\d.]", "", text))
    return sign * (number / 100.0 if unit == "ratio" else number)


def test_summary_numbers_equal_kpi_values(rendered, published, month):
    archived, _, _, _ = rendered
    pages = pdf_pages(archived.path)
    summary = pages[0]
    rows = month_rows(published, month)
    assert len(rows) == 16
    lines = summary.splitlines()
    for row in rows:
        decimals = decimals_for(row["unit"], row["default_target"], row["amber_tolerance"])
        value = format_value(row["value"], row["unit"], decimals)
        target = format_value(row["target"], row["unit"], decimals)
        variance = format_difference(row["variance"], row["unit"], decimals)
        # Value, target and variance on the summary, and again on the perspective page.
        pattern = re.compile(
            rf"\s{re.escape(value)}(?:\s*\u2020)?\s+{re.escape(target)}\s+"
            rf"{re.escape(variance)}\s"
        )
        matches = [line for line in lines if row["name"] in line and pattern.search(line)]
        assert len(matches) == 1, (row["kpi_id"], value, target)
        card = [line for page in pages[3:7] for line in page.splitlines() if pattern.search(line)]
        assert card, (row["kpi_id"], value, target, variance)
        # Independently of the formatter: the printed digits are the warehouse's number,
        # rounded to the digits shown.
        match = pattern.search(matches[0])
        printed = _NUMBER.findall(match.group(0))
        for shown, actual in zip(printed, (row["value"], row["target"]), strict=False):
            if actual is None:
                continue
            places = len(shown.split(".")[1]) if "." in shown else 0
            step = 10.0**-places / (100.0 if row["unit"] == "ratio" else 1.0)
            assert abs(_parse(shown, row["unit"]) - actual) <= step / 2 + 1e-9, (
                row["kpi_id"],
                shown,
                actual,
            )


def test_pages_summary_movers_perspectives_appendix(rendered):
    archived, scorecard, result, _ = rendered
    pages = pdf_pages(archived.path)
    assert result.pages == len([p for p in pages if p.strip()])
    assert "KPI scorecard — " + scorecard.month_label in pages[0]
    assert "What moved in " + scorecard.month_label in pages[1]
    assert "Goals and milestones" in pages[2].splitlines()[2]
    titles = ["Financial", "Customer", "Internal process", "Learning and growth"]
    for index, title in enumerate(titles, start=3):
        head = [line.strip() for line in pages[index].splitlines()[:4]]
        assert title in head, (title, head)
    # Learning and growth has one KPI: its card keeps the size of every other card, and
    # the appendix starts on its page rather than after a page left mostly blank.
    assert "Appendix: KPI definitions" in pages[6]
    appendix = squash("".join(pdf_pages(archived.path, layout=False)[6:]))
    for kpi in scorecard.kpis:
        assert squash(kpi.formula) in appendix
    assert result.refused_urls == []
    # The first page states the as-of date once (its masthead); later pages in the header.
    assert pages[0].count("Data as of") == 1
    assert all(page.count("Data as of") == 1 for page in pages[2:6])
    # What the quality states count: KPIs.
    assert re.search(rf"Quality checks: \d+ of {len(scorecard.kpis)} KPIs ", pages[0])


def test_rerendering_the_same_data_gives_the_same_numbers(rendered, published, month, commentary):
    from reports.scorecard import render_month

    first, scorecard, _, out = rendered
    first_text = pdf_pages(first.path)
    second, again, _ = render_month(
        published, month, out, run_id="run-2", commentary_dir=commentary
    )
    assert again.numbers_fingerprint() == scorecard.numbers_fingerprint()

    def stable(pages):
        # Only the generation time and the run id may differ.
        return [re.sub(r"(Generated|generated) [^\n]*", "", p) for p in pages]

    assert stable(pdf_pages(second.path)) == stable(first_text)
    # The archived scorecard stands: same numbers, no new revision, nothing overwritten.
    assert second.path == first.path and second.sha256 == first.sha256
    manifest = json.loads((out / month / "manifest.json").read_text())
    entry = manifest["files"][f"scorecard-{month}.pdf"]
    assert entry["run_id"] == first.entry["run_id"] != "run-2"
    assert entry["sha256"] == second.sha256 == _sha256(first.path)
    assert [r["file"] for r in manifest["revisions"][f"scorecard-{month}.pdf"]] == [
        f"scorecard-{month}.pdf"
    ]
    assert entry["as_of"] == scorecard.as_of.isoformat()
    assert entry["definition_versions"] == {k.kpi_id: k.version_used for k in scorecard.kpis}
    assert entry["numbers_sha256"] == scorecard.numbers_fingerprint()


def test_as_of_is_the_last_day_of_the_calendar(rendered, published):
    _, scorecard, _, _ = rendered
    (row,) = query(
        published,
        "select max(period_start) as d from kpi.kpi_values where grain = 'day' "
        "and dimension = 'all'",
    )
    assert scorecard.as_of == row["d"]
    assert f"Data as of {row['d'].isoformat()}" in pdf_pages(rendered[0].path)[0]


# --- per owner, commentary, quality ----------------------------------------------------------


def test_owner_scorecard_holds_only_that_owners_kpis(published, month, commentary, tmp_path):
    from reports.scorecard import render_month

    archived, scorecard, _ = render_month(
        published, month, tmp_path, owner="vp sales", commentary_dir=commentary
    )
    assert scorecard.owner == "VP Sales"
    assert archived.path.name == f"scorecard-{month}-vp-sales.pdf"
    rows = month_rows(published, month)
    mine = {r["name"] for r in rows if r["owner"] == "VP Sales"}
    others = {r["name"] for r in rows if r["owner"] != "VP Sales"}
    assert {k.name for k in scorecard.kpis} == mine
    text = "\n".join(pdf_pages(archived.path))
    for name in mine:
        assert name in text
    for name in others:
        assert name not in text, name


@pytest.fixture(scope="module")
def edge(published, month, tmp_path_factory):
    """Two red KPIs (one with a comment), quality results, and an incomplete month."""
    folder = tmp_path_factory.mktemp("edge")
    start = date.fromisoformat(month + "-01")
    changed = date(start.year - (start.month <= 2), (start.month - 3) % 12 + 1, 1)
    path = variant(
        published,
        folder,
        [
            (
                "update kpi.kpi_values set status = 'red' where grain = 'month' "
                "and dimension = 'all' and period_start = ? and kpi_id in ('revenue', 'win_rate')",
                [start],
            ),
            (
                "update kpi.kpi_values set is_complete = false where grain = 'month' "
                "and period_start = ?",
                [start],
            ),
            # A second definition version of win_rate, two months before the month.
            (
                "insert into kpi.kpi_definitions select * replace (2 as definition_version, "
                "?::date as effective_from, 'Won opportunities over closed ones, by close "
                "date' as formula) from kpi.kpi_definitions where kpi_id = 'win_rate'",
                [changed],
            ),
            (
                "update kpi.kpi_definitions set is_current = (definition_version = 2) "
                "where kpi_id = 'win_rate'",
                [],
            ),
            (
                "update kpi.kpi_values set definition_version = 2 where kpi_id = 'win_rate' "
                "and period_start >= ?",
                [changed],
            ),
            # Quality results of the month, whether or not the pipeline published any.
            (
                "create table if not exists kpi.kpi_quality (kpi_id varchar, grain varchar, "
                "period_start date, quality_state varchar, details varchar)",
                [],
            ),
            ("delete from kpi.kpi_quality where grain = 'month' and period_start = ?", [start]),
            (
                "insert into kpi.kpi_quality (kpi_id, grain, period_start, quality_state, "
                "details) values ('revenue', 'month', ?, 'warned', "
                "'fx rate for BRL missing on 3 days'), ('csat_score', 'month', ?, 'failed', "
                "'survey export truncated'), ('win_rate', 'month', ?, 'passed', null)",
                [start, start, start],
            ),
        ],
    )
    notes = folder / "commentary"
    notes.mkdir()
    (notes / f"{month}.yml").write_text(
        "revenue: >\n  Two large orders slipped into next month; pipeline covers the gap.\n"
        "not_a_kpi: ignored\n",
        encoding="utf-8",
    )
    from reports.scorecard import load_scorecard, render_pdf

    scorecard = load_scorecard(path, month, commentary_dir=notes)
    result = render_pdf(scorecard)
    out = folder / "edge.pdf"
    out.write_bytes(result.pdf)
    return scorecard, pdf_pages(out), pdf_pages(out, layout=False)


def test_red_kpi_without_commentary_is_flagged(edge):
    scorecard, pages, reading = edge
    by_id = {k.kpi_id: k for k in scorecard.kpis}
    assert not by_id["revenue"].commentary_missing
    assert by_id["win_rate"].commentary_missing
    summary = pages[0].splitlines()
    (win,) = [line for line in summary if by_id["win_rate"].name in line]
    assert "commentary missing" in win
    (revenue,) = [line for line in summary if by_id["revenue"].name in line]
    assert "commentary missing" not in revenue
    text = squash("".join(reading))
    assert squash("Two large orders slipped into next month") in text
    assert "not_a_kpi" in squash(reading[1])  # an unknown id is reported, not silently dropped
    # Too long for the summary's column (66 characters): it points to the KPI's appendix
    # entry, which holds the whole text, and links to it.
    assert pages[0].count("full text in the appendix") == 1
    heading = squash("Commentary for " + scorecard.month_label)
    (entry,) = [page for page in pages if heading in squash(page)]
    assert pages.index(entry) > 0
    assert squash(by_id["revenue"].full_name) in squash(entry)
    assert squash("pipeline covers the gap.") in squash(entry)
    assert squash("pipeline covers the gap.") not in squash(pages[0])


def test_slice_values_read_as_names():
    from reports.formatting import slice_label

    assert slice_label("region", "north_america") == "North America"
    assert slice_label("region", "emea") == "EMEA"
    assert slice_label("channel", "paid_search") == "Paid search"
    assert slice_label("segment", "unknown") == "Unknown"
    # Ids and names in the data stay as written; the published names win.
    assert slice_label("carrier", "DHL Express") == "DHL Express"
    assert slice_label("service", "SVC-PORTAL") == "SVC-PORTAL"
    names = {"SVC-PORTAL": "Customer Portal"}
    assert slice_label("service", "SVC-PORTAL", names) == "Customer Portal"


def test_service_slices_show_the_catalog_name(published, month, commentary):
    from reports.scorecard import load_scorecard

    (row,) = query(
        published,
        "select label from kpi.kpi_slice_labels where dimension_value = 'SVC-PORTAL'",
    )
    assert row["label"] == "Customer Portal"
    scorecard = load_scorecard(published, month, commentary_dir=commentary)
    (availability,) = [k for k in scorecard.kpis if k.kpi_id == "service_availability"]
    labels = {r.label for g in availability.slices for r in g.rows}
    assert "Customer Portal" in labels and "SVC-PORTAL" not in labels
    (revenue,) = [k for k in scorecard.kpis if k.kpi_id == "revenue"]
    assert "North America" in {r.label for g in revenue.slices for r in g.rows}


def test_quality_states_mark_numbers_provisional(edge):
    scorecard, pages, reading = edge
    by_id = {k.kpi_id: k for k in scorecard.kpis}
    assert by_id["revenue"].quality_state == "warned" and by_id["revenue"].provisional
    assert by_id["csat_score"].quality_state == "failed" and by_id["csat_score"].provisional
    assert by_id["win_rate"].quality_state == "passed" and not by_id["win_rate"].provisional
    assert by_id["defect_rate"].quality_state == "not_assessed"
    summary = pages[0].splitlines()
    (revenue,) = [line for line in summary if by_id["revenue"].name in line]
    assert "\u2020" in revenue and "Warned" in revenue
    assert "survey export truncated" in reading[1]
    assert "is not complete" in pages[0]


def test_a_definition_change_within_13_months_is_noted(edge):
    scorecard, _, reading = edge
    (win,) = [k for k in scorecard.kpis if k.kpi_id == "win_rate"]
    assert win.current_version == 2 and win.version_used == 2
    (note,) = win.definition_notes
    assert note.in_window
    appendix = squash("".join(reading[6:]))
    assert (
        squash(f"Definition changed: version 2 took effect on {note.effective_from.isoformat()}")
        in appendix
    )
    assert squash("Won opportunities over closed ones, by close date") in appendix


def test_without_a_quality_table_every_number_is_not_assessed(published, month, tmp_path):
    from reports.render import render_html
    from reports.scorecard import load_scorecard

    path = variant(published, tmp_path, [("drop table if exists kpi.kpi_quality", [])])
    scorecard = load_scorecard(path, month, commentary_dir=tmp_path)
    assert not scorecard.quality_available
    assert {k.quality_state for k in scorecard.kpis} == {"not_assessed"}
    assert not scorecard.provisional_kpis
    assert "not assessed (no quality results published)" in render_html(scorecard)


# --- untrusted text --------------------------------------------------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 - the http.server API
        type(self).requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.end_headers()
        self.wfile.write(b"body { background: red }")

    def log_message(self, *args):
        pass


@pytest.fixture()
def http_trap():
    _Recorder.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], _Recorder.requests
    server.shutdown()
    server.server_close()


def test_injected_markup_is_printed_as_text_and_never_fetched(
    published, month, tmp_path, http_trap
):
    from reports.render import render_html
    from reports.scorecard import load_scorecard, render_pdf

    port, requests = http_trap
    link = f'<link rel="stylesheet" href="http://127.0.0.1:{port}/x.css">'
    pixel = f'<img src="http://127.0.0.1:{port}/pixel.png">'
    start = date.fromisoformat(month + "-01")
    path = variant(
        published,
        tmp_path,
        [
            ("update kpi.kpi_definitions set owner = ? where kpi_id = 'revenue'", [IMG]),
            ("update kpi.kpi_definitions set name = ? where kpi_id = 'win_rate'", [pixel]),
            (
                "update kpi.kpi_values set dimension_value = ? || dimension_value "
                "where kpi_id = 'revenue' and grain = 'month' and period_start = ? "
                "and dimension = 'region'",
                [f'<link href="http://127.0.0.1:{port}/s.css">', start],
            ),
            (
                "update kpi.goal_progress set objective_title = ?, milestone_title = '<i>m</i>'",
                [pixel],
            ),
        ],
    )
    notes = tmp_path / "commentary"
    notes.mkdir()
    (notes / f"{month}.yml").write_text(
        json.dumps({"revenue": f"{IMG} {link}", "csat_score": "<script>alert(1)</script>"}),
        encoding="utf-8",
    )
    scorecard = load_scorecard(path, month, commentary_dir=notes)
    html = render_html(scorecard)
    assert "&lt;img src=&#34;file:///etc/passwd&#34;&gt;" in html
    assert '<img src="file:' not in html and "<script>" not in html
    assert f'<link rel="stylesheet" href="http://127.0.0.1:{port}' not in html
    result = render_pdf(scorecard)
    out = tmp_path / "injected.pdf"
    out.write_bytes(result.pdf)
    assert requests == []
    assert result.refused_urls == []  # nothing reached the renderer as markup at all
    text = squash("\n".join(pdf_pages(out, layout=False)))
    for literal in (IMG, link, pixel, "<script>alert(1)</script>", "<i>m</i>"):
        assert squash(literal) in text, literal
    # The slice label is shortened to one line on its card, but printed as text.
    assert squash('<link href="http://') in text


def test_url_fetcher_serves_only_the_bundled_assets(tmp_path, http_trap):
    from reports.render import STATIC_DIR, RefusedURL, make_fetcher

    port, requests = http_trap
    fetcher = make_fetcher({"scorecard-asset:chart-0.png": (b"\x89PNG", "image/png")})
    css = fetcher.fetch((STATIC_DIR / "scorecard.css").as_uri())
    assert b"@page" in css.read()
    assert fetcher.fetch("scorecard-asset:chart-0.png").read() == b"\x89PNG"
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "link.css").symlink_to(outside)
    refused = [
        "file:///etc/passwd",
        outside.as_uri(),
        (STATIC_DIR / ".." / "render.py").as_uri(),
        (STATIC_DIR / "missing.css").as_uri(),
        f"http://127.0.0.1:{port}/x.css",
        f"https://127.0.0.1:{port}/x.css",
        "data:text/css,body{color:red}",
        "ftp://127.0.0.1/x",
        "scorecard-asset:unknown.png",
    ]
    for url in refused:
        with pytest.raises(RefusedURL):
            fetcher.fetch(url)
    jailed = make_fetcher(static_dir=tmp_path / "static")
    with pytest.raises(RefusedURL):
        jailed.fetch((tmp_path / "static" / "link.css").as_uri())
    assert requests == []
    assert len(fetcher.refused) == len(refused)


# --- layout under stress ---------------------------------------------------------------------


def test_layout_holds_for_long_names_missing_values_and_all_red(published, month, tmp_path):
    from reports.scorecard import load_scorecard, render_pdf

    start = date.fromisoformat(month + "-01")
    long = "Net revenue recognised across every channel, marketplace and partner " * 3
    path = variant(
        published,
        tmp_path,
        [
            ("update kpi.kpi_definitions set name = name || ' — ' || ?", [long]),
            ("update kpi.kpi_definitions set owner = owner || ', acting for ' || ?", [long]),
            (
                "update kpi.kpi_values set dimension_value = dimension_value || ' ' || ? "
                "where grain = 'month' and dimension <> 'all'",
                [long],
            ),
            ("update kpi.kpi_values set status = 'red' where grain = 'month'", []),
            (
                "update kpi.kpi_values set value = null, variance = null, status = 'no_data' "
                "where grain = 'month' and kpi_id in ('csat_score', 'attendance_rate') "
                "and period_start >= ?",
                [date(start.year - 1, start.month, 1)],
            ),
            (
                "update kpi.kpi_values set target = null, variance = null "
                "where grain = 'month' and kpi_id = 'win_rate'",
                [],
            ),
        ],
    )
    scorecard = load_scorecard(path, month, commentary_dir=tmp_path)
    result = render_pdf(scorecard)
    out = tmp_path / "stress.pdf"
    out.write_bytes(result.pdf)
    pages = pdf_pages(out)
    summary = pages[0]
    # Still one summary page with every KPI's number, then one page per perspective.
    for kpi in scorecard.kpis:
        assert kpi.value_text in summary, kpi.kpi_id
    assert summary.count("commentary missing") >= 14
    assert "What moved" in pages[1]
    assert "Goals and milestones" in pages[2]
    for index, perspective in enumerate(scorecard.perspectives, start=3):
        assert perspective.title in pages[index]
        for kpi in perspective.kpis:
            assert kpi.value_text in pages[index], (perspective.key, kpi.kpi_id)
    assert "Appendix: KPI definitions" in pages[6]
    assert result.refused_urls == []
    # The charts share one figure; each must look as if drawn on its own, also right after
    # a chart without data.
    from reports import charts

    for kpi in scorecard.kpis:
        assert scorecard.assets[kpi.trend_chart][0] == charts.trend_chart(kpi), kpi.kpi_id


# --- delivery ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Inbox:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        self.envelopes.append(envelope)
        return "250 OK"


def _authenticator(server, session, envelope, mechanism, auth_data):
    from aiosmtpd.smtp import AuthResult

    ok = auth_data.login == b"reports" and auth_data.password == b"s3cret-pass"
    return AuthResult(success=ok)


def _check_delivery(inbox, archived, scorecard):
    from email import message_from_bytes, policy

    (envelope,) = inbox.envelopes
    assert envelope.mail_from == "scorecard@example.com"
    assert sorted(envelope.rcpt_tos) == ["board@example.com", "cfo@example.com"]
    message = message_from_bytes(envelope.content, policy=policy.default)
    assert message["Subject"].startswith(f"KPI scorecard {scorecard.month_label}")
    body = message.get_body(preferencelist=("plain",)).get_content()
    counts = scorecard.status_counts
    assert (
        f"{counts['green']} on track, {counts['amber']} at risk, {counts['red']} off track" in body
    )
    assert archived.sha256 in body
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == archived.path.name
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == archived.path.read_bytes()


def test_scorecard_is_emailed_through_a_real_smtp_server(rendered, caplog, smtp_server):
    from reports.delivery import SmtpSettings, send_scorecard

    archived, scorecard, result, _ = rendered
    env, inbox = smtp_server
    settings = SmtpSettings.from_env(env)
    with caplog.at_level("DEBUG"):
        send_scorecard(scorecard, archived.path, archived.sha256, result.pages, settings)
    _check_delivery(inbox, archived, scorecard)
    assert ("AUTH", True) in inbox.commands and ("AUTH", False) not in inbox.commands
    assert env["KPI_SMTP_PASSWORD"] not in caplog.text
    assert env["KPI_SMTP_PASSWORD"] not in repr(settings)


def test_starttls_delivery_verifies_the_server_certificate(rendered, tmp_path):
    pytest.importorskip("cryptography")
    import ssl

    from aiosmtpd.controller import Controller

    from reports.delivery import DeliveryError, SmtpSettings, send_scorecard

    archived, scorecard, result, _ = rendered
    cert, key = self_signed_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = _Inbox()
    port = _free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=_authenticator,
    )
    controller.start()
    env = {
        "KPI_SMTP_HOST": "127.0.0.1",
        "KPI_SMTP_PORT": str(port),
        "KPI_SMTP_USER": "reports",
        "KPI_SMTP_PASSWORD": "s3cret-pass",
        "KPI_SMTP_FROM": "scorecard@example.com",
        "KPI_REPORT_RECIPIENTS": "cfo@example.com,board@example.com",
    }
    try:
        # An unknown certificate is refused ...
        with pytest.raises(DeliveryError):
            send_scorecard(
                scorecard, archived.path, archived.sha256, result.pages, SmtpSettings.from_env(env)
            )
        # ... the right CA is accepted.
        settings = SmtpSettings.from_env({**env, "KPI_SMTP_CA_FILE": str(cert)})
        assert settings.starttls
        send_scorecard(scorecard, archived.path, archived.sha256, result.pages, settings)
    finally:
        controller.stop()
    _check_delivery(inbox, archived, scorecard)


def test_credentials_are_never_sent_in_clear_to_a_remote_host():
    from reports.delivery import DeliveryError, SmtpSettings

    settings = SmtpSettings.from_env(
        {
            "KPI_SMTP_HOST": "smtp.example.com",
            "KPI_SMTP_STARTTLS": "false",
            "KPI_SMTP_USER": "reports",
            "KPI_SMTP_PASSWORD": "pw",
            "KPI_SMTP_FROM": "scorecard@example.com",
            "KPI_REPORT_RECIPIENTS": "cfo@example.com",
        }
    )
    with pytest.raises(DeliveryError, match="without encryption"):
        settings.check()
    # Loopback is no exception: a local relay that wants a login gets it over TLS too.
    local = SmtpSettings.from_env(
        {
            "KPI_SMTP_HOST": "127.0.0.1",
            "KPI_SMTP_STARTTLS": "false",
            "KPI_SMTP_USER": "reports",
            "KPI_SMTP_PASSWORD": "pw",
            "KPI_SMTP_FROM": "scorecard@example.com",
            "KPI_REPORT_RECIPIENTS": "cfo@example.com",
        }
    )
    with pytest.raises(DeliveryError, match="without encryption"):
        local.check()
    assert SmtpSettings.from_env({}) is None


def test_scorecard_credentials_are_not_sent_to_a_server_without_starttls(rendered, tmp_path):
    from reports.delivery import DeliveryError, SmtpSettings, send_scorecard
    from tests import smtp_helpers

    archived, scorecard, result, _ = rendered
    with smtp_helpers.smtp_server(tmp_path, mode="plain") as (port, inbox, _):
        settings = SmtpSettings.from_env(
            {
                "KPI_SMTP_HOST": "127.0.0.1",
                "KPI_SMTP_PORT": str(port),
                "KPI_SMTP_USER": smtp_helpers.USER,
                "KPI_SMTP_PASSWORD": smtp_helpers.PASSWORD,
                "KPI_SMTP_FROM": "scorecard@example.com",
                "KPI_REPORT_RECIPIENTS": "cfo@example.com",
            }
        )
        with pytest.raises(DeliveryError) as raised:
            send_scorecard(scorecard, archived.path, archived.sha256, result.pages, settings)
    assert str(raised.value) == (
        f"The SMTP server 127.0.0.1:{port} does not offer STARTTLS, so the credentials "
        "were not sent over an unencrypted connection."
    )
    # The server would have accepted AUTH in the clear; the client never sent it.
    assert inbox.verbs == ["EHLO"] and inbox.logins == [] and inbox.envelopes == []


# --- command line and Dagster ------------------------------------------------------------------


@pytest.fixture()
def smtp_server(tmp_path):
    """A STARTTLS server with a login and a private CA: the setup credentials need."""
    from tests import smtp_helpers

    folder = tmp_path / "tls"
    folder.mkdir()
    with smtp_helpers.smtp_server(folder, mode="starttls") as (port, inbox, ca_file):
        env = {
            "KPI_SMTP_HOST": "127.0.0.1",
            "KPI_SMTP_PORT": str(port),
            "KPI_SMTP_CA_FILE": str(ca_file),
            "KPI_SMTP_USER": smtp_helpers.USER,
            "KPI_SMTP_PASSWORD": smtp_helpers.PASSWORD,
            "KPI_SMTP_FROM": "scorecard@example.com",
            "KPI_REPORT_RECIPIENTS": "cfo@example.com, Board <board@example.com>",
        }
        yield env, inbox


def test_cli_report_prints_the_pdf_path_last_and_emails_it(
    warehouse, month, commentary, tmp_path, smtp_server
):
    from reports.scorecard import load_scorecard

    smtp_env, inbox = smtp_server
    result = subprocess.run(
        [
            *CLI,
            "report",
            "--month",
            month,
            "--warehouse",
            str(warehouse),
            "--out",
            str(tmp_path),
            "--email",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **smtp_env, "KPI_COMMENTARY_DIR": str(commentary)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path == tmp_path / month / f"scorecard-{month}.pdf"
    assert path.read_bytes().startswith(b"%PDF")
    entry = json.loads((tmp_path / month / "manifest.json").read_text())["files"][path.name]
    assert smtp_env["KPI_SMTP_PASSWORD"] not in result.stdout + result.stderr
    assert inbox.verbs == ["EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL"]
    assert [verb for verb, encrypted in inbox.commands if encrypted] == ["EHLO", "AUTH", "MAIL"]

    scorecard = load_scorecard(published_path_for(warehouse), month, commentary_dir=commentary)
    _check_delivery(inbox, SimpleNamespace(path=path, sha256=entry["sha256"]), scorecard)


def test_cli_report_errors_are_one_sentence(warehouse, tmp_path, capsys, monkeypatch):
    from orchestration.cli import main

    monkeypatch.delenv("KPI_SMTP_HOST", raising=False)
    cases = [
        (["--month", "1999-01", "--warehouse", str(warehouse)], "has no KPI values for 1999-01"),
        (["--warehouse", str(tmp_path / "none.duckdb")], "no published KPI copy"),
        (["--warehouse", str(warehouse), "--owner", "Nobody"], "No KPI is owned by 'Nobody'"),
        (["--warehouse", str(warehouse), "--email"], "Email is not configured"),
    ]
    for args, message in cases:
        assert main(["report", *args, "--out", str(tmp_path)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("error: ") and message in err[-1], err
        assert not any("Traceback" in line for line in err)


def test_dagster_partition_renders_and_emails_the_month(
    warehouse, month, commentary, tmp_path, monkeypatch, smtp_server
):
    import dagster as dg

    from orchestration.cli import _settings_for
    from orchestration.definitions import build_definitions
    from orchestration.keys import SCORECARD_JOB, SCORECARD_MONTHS
    from orchestration.reports.assets import (
        SCORECARD_EMAIL_KEY,
        SCORECARD_KEY,
        complete_months,
    )

    smtp_env, inbox = smtp_server
    for name, value in smtp_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("KPI_REPORTS_DIR", str(tmp_path))
    monkeypatch.setenv("KPI_COMMENTARY_DIR", str(commentary))
    defs = build_definitions(_settings_for(warehouse.parent, warehouse, None))
    job = defs.resolve_job_def(SCORECARD_JOB)
    # The partitions are the months complete in the published copy, as a run registers them.
    instance = dg.DagsterInstance.ephemeral()
    months = complete_months(published_path_for(warehouse))
    instance.add_dynamic_partitions(SCORECARD_MONTHS, months)
    assert month in job.partitions_def.get_partition_keys(dynamic_partitions_store=instance)
    # The scorecard arrives by itself: some schedule starts the job every month.
    schedules = defs.get_repository_def().schedule_defs
    assert any(schedule.job_name == SCORECARD_JOB for schedule in schedules)
    result = job.execute_in_process(
        partition_key=month,
        asset_selection=[SCORECARD_KEY, SCORECARD_EMAIL_KEY],
        instance=instance,
    )
    assert result.success
    events = {e.asset_key: e for e in result.get_asset_materialization_events()}
    assert events[SCORECARD_EMAIL_KEY].materialization.metadata["sent"].value is True
    (envelope,) = inbox.envelopes
    assert f"scorecard-{month}.pdf".encode() in envelope.content
    # A backfill archives past months but mails nobody.
    backfill = job.execute_in_process(
        partition_key=month,
        asset_selection=[SCORECARD_EMAIL_KEY],
        instance=instance,
        tags={"dagster/backfill": "test"},
    )
    assert backfill.success
    (skipped,) = backfill.get_asset_materialization_events()
    assert skipped.materialization.metadata["sent"].value is False
    assert len(inbox.envelopes) == 1
    metadata = events[SCORECARD_KEY].materialization.metadata
    assert Path(metadata["path"].value) == tmp_path / month / f"scorecard-{month}.pdf"
    assert (
        metadata["sha256"].value
        == json.loads((tmp_path / month / "manifest.json").read_text())["files"][
            f"scorecard-{month}.pdf"
        ]["sha256"]
    )


# --- formatting and commentary -----------------------------------------------------------------


def test_numbers_show_the_digits_that_tell_the_amber_band_apart():
    assert decimals_for("ratio", 0.997, 0.002) == 2  # 99.70% ± 0.20 pp
    assert decimals_for("ratio", 0.30, 0.10) == 1  # 30.0% ± 3 pp
    assert decimals_for("usd", 8000, 0.05) == 0
    assert decimals_for("usd", 75, 0.10) == 2
    assert decimals_for("count", 75, 0.2) == 0
    assert format_value(0.99772, "ratio", 2) == "99.77%"
    assert format_value(3350530.4, "usd", 0) == "$3,350,530"
    assert format_value(None, "usd", 0) == "—"
    assert format_difference(-47470.2, "usd", 0) == "\u2212$47,470"
    assert format_difference(0.00659, "ratio", 2) == "+0.66 pp"
    assert format_difference(-0.00001, "ratio", 2) == "0.00 pp"


def test_commentary_files_are_read_safely(tmp_path):
    from reports.commentary import MAX_COMMENT_CHARS, CommentaryError, load_commentary

    (tmp_path / "2026-09.yml").write_text(
        "revenue: Fine.\nwin_rate: " + "x" * 1000 + "\nunknown_kpi: hi\ncsat_score:\n",
        encoding="utf-8",
    )
    loaded = load_commentary("2026-09", {"revenue", "win_rate", "csat_score"}, tmp_path)
    assert loaded.comments["revenue"] == "Fine."
    assert len(loaded.comments["win_rate"]) == MAX_COMMENT_CHARS
    assert "csat_score" not in loaded.comments
    assert loaded.unknown_ids == ("unknown_kpi",)
    assert load_commentary("2026-10", {"revenue"}, tmp_path).source is None
    (tmp_path / "2026-11.yml").write_text("!!python/object:os.system ls\n", encoding="utf-8")
    with pytest.raises(CommentaryError, match="2026-11.yml"):
        load_commentary("2026-11", {"revenue"}, tmp_path)
    (tmp_path / "2026-12.yml").write_text("- a list\n", encoding="utf-8")
    with pytest.raises(CommentaryError, match="must map KPI ids"):
        load_commentary("2026-12", {"revenue"}, tmp_path)


# --- the year, the roll-up and the goals -------------------------------------------------------


def _kpi_line(lines: list[str], name: str) -> tuple[str, str]:
    """A KPI's row on the summary: the line with its name and the grey line under it."""
    (index,) = [i for i, line in enumerate(lines) if re.search(rf"^\s*{re.escape(name)}\s", line)]
    return lines[index], lines[index + 1]


def _close(shown: str, actual: float, unit: str) -> bool:
    """The printed number is the warehouse's, rounded to the digits shown."""
    scale = 1_000_000.0 if shown.endswith("M") else 1.0
    digits = shown.rstrip("M%").replace(" h", "").replace(" days", "")
    places = len(digits.split(".")[1]) if "." in digits else 0
    step = 10.0**-places * scale / (100.0 if unit == "ratio" else 1.0)
    return abs(_parse(shown.rstrip("M"), unit) * scale - actual) <= step / 2 + 1e-9


def test_summary_gives_year_to_date_and_year_end_projection(rendered, published, month):
    from reports.formatting import format_brief
    from reports.outlook import format_probability

    archived, _, _, _ = rendered
    summary = pdf_pages(archived.path)[0]
    assert "YEAR TO DATE" in summary and "YEAR-END PROJECTION " + month[:4] in summary
    lines = summary.splitlines()
    start = date.fromisoformat(month + "-01")
    definitions = {r["kpi_id"]: r for r in month_rows(published, month)}
    ytd = query(
        published,
        "select kpi_id, ytd_value, ytd_target, ytd_status from kpi.kpi_period_to_date "
        "where month = ? and dimension = 'all'",
        [start],
    )
    assert len(ytd) == 16
    symbols = {"green": "\u2714", "amber": "\u25c6", "red": "\u2716"}
    for row in ytd:
        d = definitions[row["kpi_id"]]
        decimals = decimals_for(d["unit"], d["default_target"], d["amber_tolerance"])
        value = format_value(row["ytd_value"], d["unit"], decimals)
        target = format_brief(row["ytd_target"], d["unit"], decimals)
        first, second = _kpi_line(lines, d["name"])
        # The month's value and target come first: the year to date is the next number.
        assert re.search(rf"\s{re.escape(value)}\s+{symbols.get(row['ytd_status'], '')}", first), (
            row["kpi_id"],
            value,
            first,
        )
        assert re.search(rf"\s{re.escape(target)}(\s|$)", second), (row["kpi_id"], target)
        assert _close(value, row["ytd_value"], d["unit"]), (row["kpi_id"], value)

    projections = query(
        published,
        "select kpi_id, projected_value, projected_low, projected_high, year_target, "
        "probability_of_meeting_target from kpi.kpi_projections "
        "where month = ? and dimension = 'all'",
        [start],
    )
    assert projections
    for row in projections:
        d = definitions[row["kpi_id"]]
        decimals = decimals_for(d["unit"], d["default_target"], d["amber_tolerance"])
        first, second = _kpi_line(lines, d["name"])
        value = format_value(row["projected_value"], d["unit"], decimals)
        low = format_brief(row["projected_low"], d["unit"], decimals)
        high = format_brief(row["projected_high"], d["unit"], decimals)
        assert _close(value, row["projected_value"], d["unit"]), (row["kpi_id"], value)
        assert _close(low, row["projected_low"], d["unit"]) and _close(
            high, row["projected_high"], d["unit"]
        ), (row["kpi_id"], low, high)
        if row["year_target"] is None:
            assert re.search(rf"\s{re.escape(value)}\s+no year target", first), row["kpi_id"]
        else:
            chance = format_probability(row["probability_of_meeting_target"])
            assert re.search(rf"\s{re.escape(value)}\s+{re.escape(chance)}\s", first), (
                row["kpi_id"],
                value,
                chance,
            )
            if row["probability_of_meeting_target"] is not None:
                assert (
                    abs(float(chance.rstrip("%")) / 100 - row["probability_of_meeting_target"])
                    <= 0.005
                )
            year_target = format_brief(row["year_target"], d["unit"], decimals)
            assert re.search(
                rf"{re.escape(low)} – {re.escape(high)}\s+of {re.escape(year_target)}", second
            ), (row["kpi_id"], second)
    # A level such as the backlog has no projection, and the page says so.
    projected = {r["kpi_id"] for r in projections}
    for kpi_id in set(definitions) - projected:
        first, _ = _kpi_line(lines, definitions[kpi_id]["name"])
        assert "not projected" in first, kpi_id


def test_company_and_perspective_scores_match_kpi_scores(rendered, published, month):
    archived, scorecard, _, _ = rendered
    pages = pdf_pages(archived.path)
    start = date.fromisoformat(month + "-01")
    rows = {
        r["perspective"]: r
        for r in query(
            published,
            "select perspective, score, previous_score, kpis_scored, kpis_in_scope "
            "from kpi.kpi_scores where month = ?",
            [start],
        )
    }
    company = rows["all"]
    summary = pages[0]
    score = f"{company['score']:.1f}"
    delta = round(company["score"], 1) - round(company["previous_score"], 1)
    sign = "+" if delta > 0 else "\u2212"
    assert re.search(rf"^{re.escape(score)} / 100", summary, re.M), score
    assert (
        f"{sign}{abs(delta):.1f} pts vs {scorecard.previous_month:%b %Y} · "
        f"{company['kpis_scored']} of {company['kpis_in_scope']} KPIs scored"
    ) in summary
    # The four perspective scores in the band, each with its change in points.
    band = "\n".join(summary.splitlines()[:14])
    for perspective in scorecard.perspectives:
        row = rows[perspective.key]
        assert perspective.title.upper() in band
        assert re.search(rf"(^|\s){row['score']:.1f}(\s|$)", band), perspective.key
    # Each perspective page states its own score and how many KPIs it scored.
    for index, perspective in enumerate(scorecard.perspectives, start=3):
        row = rows[perspective.key]
        page = squash(pages[index])
        assert squash(f"Perspective score {row['score']:.1f} / 100") in page, perspective.key
        assert squash(f"({row['kpis_scored']} of {row['kpis_in_scope']} KPIs scored)") in page
    # The sparkline is drawn from the 13 months of company scores.
    assert [p.value for p in scorecard.company_score.trend][-1] == company["score"]
    assert len(scorecard.company_score.trend) == 13


def test_goals_page_matches_goal_progress(rendered, published, month):
    from reports.formatting import slice_label

    archived, scorecard, _, _ = rendered
    pages = pdf_pages(archived.path)
    (index,) = [i for i, p in enumerate(pages) if "Goals and milestones" in p]
    goals_page = pages[index]
    # Texts in reading order (a wrapped title stays whole); rows by the layout's lines.
    page = squash(pdf_pages(archived.path, layout=False)[index])
    start = date.fromisoformat(month + "-01")
    rows = query(
        published,
        "select g.*, d.unit, d.default_target, d.amber_tolerance, d.name from "
        "kpi.goal_progress g join kpi.kpi_definitions d on d.kpi_id = g.kpi_id and d.is_current "
        "where g.objective_period_start <= ? and g.objective_period_end >= ?",
        [start, start],
    )
    assert rows
    for row in rows:
        decimals = decimals_for(row["unit"], row["default_target"], row["amber_tolerance"])

        def fmt(value, unit=row["unit"], decimals=decimals):
            return format_value(value, unit, decimals)

        assert squash(row["objective_title"]) in page
        assert squash(row["objective_owner"]) in page
        assert squash(f"{row['objective_progress']:.0f}%") in page
        assert squash(row["key_result_title"]) in page
        slice_text = "Whole company"
        if row["dimension"] != "all":
            label = slice_label(row["dimension"], row["dimension_value"])
            slice_text = f"{row['dimension'].capitalize()}: {label}"
        assert squash(f"{row['name']} · {slice_text}") in page, row["key_result_id"]
        assert squash(f"{fmt(row['start_value'])} → {fmt(row['target_value'])}") in page
        if row["progress"] is not None:
            # The current value on the key result's line, the month it is of under it.
            lines = goals_page.splitlines()
            (at,) = [
                i
                for i, line in enumerate(lines)
                if f"{fmt(row['start_value'])} → {fmt(row['target_value'])}" in line
                and re.search(rf"\s{re.escape(fmt(row['current_value']))}\s", line)
            ]
            assert f"{row['current_month']:%b %Y}" in lines[at + 1], row["key_result_id"]
            assert squash(f"{row['progress']:.0f}%") in page
        if row["milestone_date"] is not None:
            label = {
                "met": "Met",
                "missed": "Missed",
                "due_soon": "Due soon",
                "upcoming": "Upcoming",
            }[row["milestone_status"]]
            symbol = {
                "met": "\u2714",
                "missed": "\u2716",
                "due_soon": "\u25c6",
                "upcoming": "\u25cb",
            }[row["milestone_status"]]
            # Date, name, expected, actual (— before the month is complete), status.
            milestone = re.compile(
                rf"{row['milestone_date'].isoformat()}\s+\S.*?\s{re.escape(fmt(row['expected_value']))}"
                rf"\s+{re.escape(fmt(row['milestone_value']))}\s+{symbol} {label}(\s|$)"
            )
            matches = [line for line in goals_page.splitlines() if milestone.search(line)]
            assert len(matches) == 1, (row["key_result_id"], row["milestone_date"], label)
    # The demo goals hold a milestone of each kind that has come to pass.
    statuses = {r["milestone_status"] for r in rows}
    assert {"met", "missed"} <= statuses
    # Progress is the warehouse's, printed as a whole percentage (worked out again here).
    for row in rows:
        if row["progress"] is not None:
            expected = (
                100
                * (row["current_value"] - row["start_value"])
                / (row["target_value"] - row["start_value"])
            )
            assert abs(max(0.0, min(100.0, expected)) - row["progress"]) < 0.01


def test_older_copy_without_the_year_tables_still_renders(published, month, tmp_path):
    from reports.scorecard import load_scorecard, render_pdf

    path = variant(
        published,
        tmp_path,
        [
            (f"drop table kpi.{table}", [])
            for table in ("kpi_period_to_date", "kpi_projections", "kpi_scores", "goal_progress")
        ],
    )
    scorecard = load_scorecard(path, month, commentary_dir=tmp_path)
    assert not scorecard.year_to_date_available and not scorecard.projections_available
    assert scorecard.company_score is None and scorecard.goals is None
    result = render_pdf(scorecard)
    out = tmp_path / "older.pdf"
    out.write_bytes(result.pdf)
    pages = pdf_pages(out)
    text = "\n".join(pages)
    assert "Year to date" not in text.title() and "Company score" not in text.title()
    assert "Goals and milestones" not in text and "Perspective score" not in text
    # The older layout: the month's variance and both comparisons, one page, every KPI.
    assert "Variance" in pages[0]
    for kpi in scorecard.kpis:
        assert f"{kpi.value_text}" in pages[0] and kpi.variance_text in pages[0]
    assert "What moved" in pages[1] and "Financial" in pages[2]


def test_no_goal_in_force_leaves_the_page_out_and_says_so(published, month, tmp_path):
    from reports.scorecard import load_scorecard, render_pdf

    path = variant(published, tmp_path, [("delete from kpi.goal_progress", [])])
    scorecard = load_scorecard(path, month, commentary_dir=tmp_path)
    result = render_pdf(scorecard)
    out = tmp_path / "nogoals.pdf"
    out.write_bytes(result.pdf)
    pages = pdf_pages(out)
    assert not any("Goals and milestones" in p for p in pages)
    assert squash(
        f"no objective is in force in {scorecard.month_label} (dbt_project/goals/)"
    ) in squash(pages[1])
    # The year's numbers stay.
    assert "YEAR TO DATE" in pages[0]


def test_a_render_leaves_the_collector_as_it_found_it():
    import gc

    from reports.render import older_objects_left_alone

    before = gc.get_freeze_count()
    with older_objects_left_alone():
        assert gc.get_freeze_count() > before
    assert gc.get_freeze_count() == before
    with pytest.raises(RuntimeError), older_objects_left_alone():
        raise RuntimeError("a failed render")
    assert gc.get_freeze_count() == before


def test_the_renderer_preloads_in_the_background():
    import sys

    from reports import render

    render.start_preload()
    render._PRELOAD.join(timeout=60)
    assert not render._PRELOAD.is_alive()
    assert "weasyprint" in sys.modules
    # The included templates are compiled too, not only the page they are included from.
    cached = {key[1] for key in render._ENV.cache}
    assert {"scorecard.html.j2", "partials/_summary.html.j2"} <= cached
