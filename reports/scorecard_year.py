"""The year beside the month on the scorecard: each card's year to date and year-end
projection, the roll-up scores and the goals page, from the year-view tables
``reports.scorecard_reads`` reads (``reports.outlook`` turns their rows into views).

A table the published copy lacks leaves its part out: no year to date or projection on
the cards, no scores, no goals page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from reports import outlook
from reports.model import TREND_MONTHS, KpiView, Status, TrendPoint, add_months
from reports.scorecard_cards import unit_and_decimals


@dataclass
class YearView:
    scores: dict[str, outlook.ScoreView]
    goals: outlook.Goals | None
    year_to_date_available: bool
    projections_available: bool


def build_year_view(
    year_rows: dict[str, list[dict] | None],
    kpis: list[KpiView],
    current: dict[str, dict],
    labels: dict[str, dict[str, str]],
    start: date,
    window_start: date,
    owner: str | None,
) -> YearView:
    """The year view of the month ``start``; sets each card's year to date and projection."""
    unit_of = {kpi_id: unit_and_decimals(d) for kpi_id, d in current.items()}
    attach_year_to_date(kpis, year_rows, unit_of)
    return YearView(
        scores=scores_by_scope(year_rows["kpi_scores"], window_start),
        goals=goals_of_month(
            year_rows["goal_progress"], kpis, current, unit_of, labels, start, owner
        ),
        year_to_date_available=year_rows["kpi_period_to_date"] is not None,
        projections_available=year_rows["kpi_projections"] is not None,
    )


def attach_year_to_date(
    kpis: list[KpiView],
    year_rows: dict[str, list[dict] | None],
    unit_of: dict[str, tuple[str, int]],
) -> None:
    """Each card's year to date and year-end projection (None where there is no row)."""
    ytd = outlook.year_to_date(year_rows["kpi_period_to_date"] or [], unit_of)
    projected = outlook.projections(year_rows["kpi_projections"] or [], unit_of)
    for kpi in kpis:
        kpi.ytd = ytd.get(kpi.kpi_id)
        kpi.projection = projected.get(kpi.kpi_id)


def scores_by_scope(rows: list[dict] | None, window_start: date) -> dict[str, outlook.ScoreView]:
    """The company's and each perspective's score, with their trend over the card's months."""
    if rows is None:
        return {}
    score_months = [add_months(window_start, i) for i in range(TREND_MONTHS)]
    return outlook.scores(
        rows,
        score_months,
        lambda m, v: TrendPoint(m, v, None, Status.of("no_target")),
    )


def goals_of_month(
    rows: list[dict] | None,
    kpis: list[KpiView],
    current: dict[str, dict],
    unit_of: dict[str, tuple[str, int]],
    labels: dict[str, dict[str, str]],
    start: date,
    owner: str | None,
) -> outlook.Goals | None:
    """The goals page: the objectives of the month (for an owner, those touching them)."""
    if rows is None:
        return None
    return outlook.goals(
        rows,
        start,
        add_months(start, 1) - timedelta(days=1),
        current,
        unit_of,
        labels,
        kpi_ids={k.kpi_id for k in kpis} if owner is not None else None,
        owner=owner,
    )
