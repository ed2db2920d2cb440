"""The monthly scorecard: read the published KPI copy into a view model, render it.

``load_scorecard`` reads the published, read-only copy (what BI tools see), so every
number in the PDF is a number of the ``kpi`` schema (``kpi_values``; the year, scores and
goals from the tables ``reports.outlook`` reads); ``render_pdf`` turns the model into
a PDF through the jinja2 templates in ``templates/`` and WeasyPrint, with a URL fetcher
that serves only the bundled assets and the charts made for this render.

This module puts the steps together; each step is a module of its own:
``reports.scorecard_reads`` the queries, ``reports.scorecard_cards`` the KPI cards,
``reports.scorecard_summary`` the perspectives, what moved and the restatements,
``reports.scorecard_year`` the year to date, projections, scores and goals.
"""

from __future__ import annotations

import calendar
import time
import uuid
from datetime import date, datetime, timezone
from pathlib import Path

from reports import charts
from reports.archive import archive_dir, archive_scorecard, last_generated_at
from reports.commentary import load_commentary
from reports.model import TREND_MONTHS, RenderResult, Scorecard, add_months
from reports.render import html_to_pdf, older_objects_left_alone, start_preload
from reports.render import render_html as _render_html
from reports.scorecard_cards import (
    build_kpi_cards,
    card_sources,
    definitions_by_kpi,
    owner_as_defined,
)
from reports.scorecard_reads import (
    PublishedMonth,
    ScorecardError,
    latest_complete_month,
    read_month,
)
from reports.scorecard_summary import movers, perspectives, red_streaks, restatements
from reports.scorecard_year import build_year_view

__all__ = [
    "ScorecardError",
    "latest_complete_month",
    "load_scorecard",
    "render_html",
    "render_month",
    "render_pdf",
]


def load_scorecard(
    published_path: Path,
    month: str,
    owner: str | None = None,
    commentary_dir: Path | None = None,
    generated_at: datetime | None = None,
    restated_since: datetime | None = None,
    comment_store: Path | None = None,
) -> Scorecard:
    """Read one month of the published copy into the scorecard's view model.

    ``restated_since`` (UTC): list the restatements made after it (the last scorecard's
    generation time); None lists every restatement of the months up to this one.
    """
    start = _month_start(month)
    window_start = add_months(start, -(TREND_MONTHS - 1))
    published = read_month(published_path, start, window_start)
    this_month = _values_of_month(published, start, published_path, month)
    definitions = definitions_by_kpi(published.definitions)
    all_ids = set(definitions.current) | {r["kpi_id"] for r in this_month}
    commentary = load_commentary(month, all_ids, commentary_dir, comment_store)
    sources = card_sources(published, definitions, commentary, start, window_start)
    kpis = build_kpi_cards(this_month, definitions, sources, owner)
    owner = owner_as_defined(owner, kpis, definitions.current)
    year = build_year_view(
        published.year, kpis, definitions.current, published.labels, start, window_start, owner
    )
    worse, better = movers(kpis)
    return Scorecard(
        month=start,
        month_label=f"{calendar.month_name[start.month]} {start.year}",
        as_of=published.latest_day or add_months(start, 1),
        is_complete=bool(this_month[0]["is_complete"]),
        generated_at=generated_at or datetime.now(timezone.utc).replace(microsecond=0),
        owner=owner,
        source=Path(published_path),
        kpis=kpis,
        perspectives=perspectives(kpis, year.scores),
        deteriorations=worse,
        improvements=better,
        red_streaks=red_streaks(kpis),
        quality_available=published.quality is not None,
        commentary=commentary,
        restatements=restatements(published.restated, kpis, restated_since),
        restated_since=restated_since,
        year_to_date_available=year.year_to_date_available,
        projections_available=year.projections_available,
        company_score=year.scores.get("company"),
        goals=year.goals,
    )


def _month_start(month: str) -> date:
    try:
        return date.fromisoformat(f"{month}-01")
    except ValueError:
        raise ScorecardError(f"'{month}' is not a month of the form YYYY-MM.") from None


def _values_of_month(
    published: PublishedMonth, start: date, published_path: Path, month: str
) -> list[dict]:
    """The month's company-wide values; a month the copy does not hold is an error."""
    this_month = [r for r in published.history if r["period_start"] == start]
    if not this_month:
        span = published.span
        covered = f"; it covers {span[0]:%Y-%m} to {span[1]:%Y-%m}" if span and span[0] else ""
        raise ScorecardError(
            f"The published copy {published_path} has no KPI values for {month}{covered}."
        )
    return this_month


# --- rendering --------------------------------------------------------------------------


def render_html(scorecard: Scorecard) -> str:
    return _render_html(scorecard)


def render_pdf(scorecard: Scorecard, run_id: str = "") -> RenderResult:
    """The scorecard as PDF bytes: charts first, then the templates through WeasyPrint."""
    started = time.perf_counter()
    scorecard.run_id = run_id
    with older_objects_left_alone():
        charts.attach_charts(scorecard)
        html = render_html(scorecard)
        pdf, pages, refused = html_to_pdf(html, scorecard.assets)
    return RenderResult(pdf, pages, time.perf_counter() - started, refused)


def render_month(
    published_path: Path,
    month: str,
    out_dir: Path | None = None,
    owner: str | None = None,
    run_id: str | None = None,
    commentary_dir: Path | None = None,
    comment_store: Path | None = None,
):
    """Load, render and archive one month's scorecard; the archived file and its model."""
    run_id = run_id or f"manual-{uuid.uuid4().hex[:12]}"
    folder = archive_dir(out_dir)
    start_preload()
    scorecard = load_scorecard(
        published_path,
        month,
        owner=owner,
        commentary_dir=commentary_dir,
        restated_since=last_generated_at(folder, owner),
        comment_store=comment_store,
    )
    result = render_pdf(scorecard, run_id=run_id)
    archived = archive_scorecard(scorecard, result, folder, run_id)
    return archived, scorecard, result
