"""The year beside the month: year to date, the year-end projection, the roll-up scores
and the goals, read from the published copy for the scorecard.

Each comes from its own table of the ``kpi`` schema (kpi_period_to_date,
kpi_projections, kpi_scores, goal_progress). An older published copy may lack any of
them: its part is then None and the scorecard leaves that section out, so a copy made
before these tables existed still renders.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

from reports.formatting import (
    MINUS,
    format_brief,
    format_probability,
    format_score,
    format_score_change,
    format_value,
    slice_label,
)

# A milestone's status as the page prints it: a word and a symbol, the colour only adds
# to them (the chip classes of the KPI statuses, by severity).
MILESTONE_STATUS = {
    "met": ("green", "Met", "\u2714"),
    "missed": ("red", "Missed", "\u2716"),
    "due_soon": ("amber", "Due soon", "\u25c6"),
    "upcoming": ("no_data", "Upcoming", "\u25cb"),
}
MAX_TITLE_CHARS = 90


def _num(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _clip(text: str | None, limit: int) -> str:
    text = "" if text is None else " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class Mark:
    """A status as printed: chip class, word and symbol (the same shape as Status)."""

    code: str
    label: str
    symbol: str


@dataclass
class YearToDate:
    value_text: str
    target_text: str
    status_code: str
    months: int | None


@dataclass
class Projection:
    year: int
    value_text: str
    low_text: str
    high_text: str
    target_text: str
    probability_text: str
    method: str

    @property
    def has_range(self) -> bool:
        return self.low_text != "—" and self.high_text != "—"


@dataclass
class ScoreView:
    """A score (company or perspective) for the month, with its 13-month trend."""

    scope: str
    perspective: str
    score: float | None
    previous_score: float | None
    kpis_scored: int
    kpis_in_scope: int
    # (month, score) for the months shown; sparklines draw ``trend`` (TrendPoint-like).
    trend: list = field(default_factory=list)
    sparkline: str = ""

    @property
    def score_text(self) -> str:
        return format_score(self.score)

    @property
    def change_text(self) -> str:
        return format_score_change(self.score, self.previous_score)

    @property
    def change_class(self) -> str:
        text = self.change_text
        if text.startswith("+"):
            return "better"
        if text.startswith(MINUS):
            return "worse"
        return "flat"


@dataclass
class MilestoneView:
    day: date
    title: str
    expected_text: str
    value_text: str
    status: Mark


@dataclass
class KeyResultView:
    key_result_id: str
    title: str
    kpi_id: str
    kpi_name: str
    slice_text: str
    start_text: str
    target_text: str
    due_date: date
    current_text: str
    current_month: date | None
    progress: float | None
    milestones: list[MilestoneView]

    @property
    def progress_text(self) -> str:
        return "—" if self.progress is None else f"{self.progress:.0f}%"


@dataclass
class ObjectiveView:
    objective_id: str
    title: str
    owner: str
    period_start: date
    period_end: date
    progress: float | None
    key_results: list[KeyResultView]

    @property
    def progress_text(self) -> str:
        return "—" if self.progress is None else f"{self.progress:.0f}%"

    @property
    def bar_width(self) -> float:
        return 0.0 if self.progress is None else max(0.0, min(100.0, self.progress))


@dataclass
class Goals:
    """The objectives in force in the scorecard's month; progress as of ``as_of``."""

    objectives: list[ObjectiveView]
    as_of: date | None


def year_to_date(rows: list[dict], unit_of: dict[str, tuple[str, int]]) -> dict[str, YearToDate]:
    """Per KPI, the company-wide year to date of the month (kpi_period_to_date rows)."""
    found = {}
    for row in rows:
        unit, decimals = unit_of.get(row["kpi_id"], ("count", 0))
        found[row["kpi_id"]] = YearToDate(
            value_text=format_value(_num(row["ytd_value"]), unit, decimals),
            target_text=format_brief(_num(row["ytd_target"]), unit, decimals),
            status_code=row["ytd_status"],
            months=row.get("ytd_months"),
        )
    return found


def projections(rows: list[dict], unit_of: dict[str, tuple[str, int]]) -> dict[str, Projection]:
    """Per KPI, the company-wide year-end projection made in the month (kpi_projections)."""
    found = {}
    for row in rows:
        unit, decimals = unit_of.get(row["kpi_id"], ("count", 0))
        found[row["kpi_id"]] = Projection(
            year=int(row["year"]),
            value_text=format_value(_num(row["projected_value"]), unit, decimals),
            low_text=format_brief(_num(row["projected_low"]), unit, decimals),
            high_text=format_brief(_num(row["projected_high"]), unit, decimals),
            target_text=format_brief(_num(row["year_target"]), unit, decimals),
            probability_text=format_probability(_num(row["probability_of_meeting_target"])),
            method=str(row["method"]),
        )
    return found


def scores(rows: list[dict], months: list[date], point) -> dict[str, ScoreView]:
    """Scores keyed 'company' or by perspective, for the last of ``months``; ``point``
    builds a trend point (month, value) the sparkline draws."""
    by_key: dict[str, dict[date, dict]] = {}
    for row in rows:
        key = "company" if row["scope"] == "company" else row["perspective"]
        by_key.setdefault(key, {})[row["month"]] = row
    found = {}
    for key, by_month in by_key.items():
        row = by_month.get(months[-1])
        if row is None:
            continue
        found[key] = ScoreView(
            scope=row["scope"],
            perspective=row["perspective"],
            score=_num(row["score"]),
            previous_score=_num(row["previous_score"]),
            kpis_scored=int(row["kpis_scored"] or 0),
            kpis_in_scope=int(row["kpis_in_scope"] or 0),
            trend=[point(m, _num(by_month[m]["score"]) if m in by_month else None) for m in months],
        )
    return found


def goals(
    rows: list[dict],
    month_start: date,
    month_end: date,
    definitions: dict[str, dict],
    unit_of: dict[str, tuple[str, int]],
    labels: dict[str, dict[str, str]],
    kpi_ids: set[str] | None = None,
    owner: str | None = None,
) -> Goals:
    """The objectives whose period overlaps the month, key results in file order.

    For an owner's scorecard (``kpi_ids`` and ``owner``): the key results on their KPIs
    and every key result of the objectives they own.
    """
    objectives: dict[str, ObjectiveView] = {}
    key_results: dict[tuple[str, str], KeyResultView] = {}
    as_of = None
    for row in rows:
        if row["objective_period_start"] > month_end or row["objective_period_end"] < month_start:
            continue
        owns = owner is not None and (row["objective_owner"] or "").casefold() == owner.casefold()
        if kpi_ids is not None and row["kpi_id"] not in kpi_ids and not owns:
            continue
        as_of = row["as_of_date"]
        unit, decimals = unit_of.get(row["kpi_id"], ("count", 2))
        objective = objectives.get(row["objective_id"])
        if objective is None:
            objective = objectives[row["objective_id"]] = ObjectiveView(
                objective_id=row["objective_id"],
                title=_clip(row["objective_title"], MAX_TITLE_CHARS),
                owner=_clip(row["objective_owner"], 70),
                period_start=row["objective_period_start"],
                period_end=row["objective_period_end"],
                progress=_num(row["objective_progress"]),
                key_results=[],
            )
        key = (row["objective_id"], row["key_result_id"])
        result = key_results.get(key)
        if result is None:
            if row["dimension"] == "all":
                slice_text = "Whole company"
            else:
                label = slice_label(
                    row["dimension"], row["dimension_value"], labels.get(row["dimension"])
                )
                slice_text = f"{row['dimension'].replace('_', ' ').capitalize()}: {label}"
            result = key_results[key] = KeyResultView(
                key_result_id=row["key_result_id"],
                title=_clip(row["key_result_title"] or row["key_result_id"], MAX_TITLE_CHARS),
                kpi_id=row["kpi_id"],
                kpi_name=_clip(definitions.get(row["kpi_id"], {}).get("name") or row["kpi_id"], 60),
                slice_text=_clip(slice_text, 60),
                start_text=format_value(_num(row["start_value"]), unit, decimals),
                target_text=format_value(_num(row["target_value"]), unit, decimals),
                due_date=row["due_date"],
                current_text=format_value(_num(row["current_value"]), unit, decimals),
                current_month=row["current_month"],
                progress=_num(row["progress"]),
                milestones=[],
            )
            objective.key_results.append(result)
        if row["milestone_date"] is not None:
            code, label, symbol = MILESTONE_STATUS.get(
                row["milestone_status"], ("no_data", str(row["milestone_status"]), "\u2013")
            )
            result.milestones.append(
                MilestoneView(
                    day=row["milestone_date"],
                    title=_clip(row["milestone_title"], 40),
                    expected_text=format_value(_num(row["expected_value"]), unit, decimals),
                    value_text=format_value(_num(row["milestone_value"]), unit, decimals),
                    status=Mark(code, label, symbol),
                )
            )
    return Goals(objectives=list(objectives.values()), as_of=as_of)
