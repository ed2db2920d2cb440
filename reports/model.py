"""The scorecard's view model: what one month's scorecard shows, as plain dataclasses.

``reports.scorecard`` builds it from the published copy; the charts, the templates, the
archive and the mail read it. It imports none of them, so every import points here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from reports import outlook
from reports.commentary import Commentary

# How the scorecard titles each perspective; their order is the registry's (reports.registry).
PERSPECTIVES = {
    "financial": ("Financial", "How do we look to our shareholders?"),
    "customer": ("Customer", "How do customers see us?"),
    "internal_process": ("Internal process", "What must we excel at?"),
    "learning_growth": ("Learning and growth", "Can we keep improving and creating value?"),
}

STATUS_LABELS = {
    "green": ("On track", "\u2714"),
    "amber": ("At risk", "\u25c6"),
    "red": ("Off track", "\u2716"),
    "no_target": ("No target", "\u2013"),
    "no_data": ("No data", "\u2013"),
}
STATUS_RANK = {"green": 0, "amber": 1, "red": 2}

QUALITY_LABELS = {
    "passed": "Passed",
    "warned": "Warned",
    "failed": "Failed",
    "not_assessed": "Not assessed",
}
QUALITY_RANK = {"passed": 0, "not_assessed": 0, "warned": 1, "failed": 2}

TREND_MONTHS = 13
# A card shows the worst slices first and counts the rest by status, so nothing is
# silently dropped. Every card has the same size, so charts compare across pages; a
# perspective of this many KPIs or fewer lets the next section start on its page.
SLICES_PER_CARD = 4
COMPACT_PERSPECTIVE_KPIS = 3
# About what two lines of the summary's commentary column hold; a longer comment shows
# its first line and where the full text is (the KPI's appendix entry).
SUMMARY_COMMENT_CHARS = 60


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Status:
    code: str
    label: str
    symbol: str

    @classmethod
    def of(cls, code: str | None) -> Status:
        code = code if code in STATUS_LABELS else "no_data"
        label, symbol = STATUS_LABELS[code]
        return cls(code, label, symbol)


@dataclass
class TrendPoint:
    month: date
    value: float | None
    target: float | None
    status: Status


@dataclass
class SliceRow:
    dimension: str
    label: str
    value_text: str
    target_text: str
    status: Status


@dataclass
class SliceGroup:
    """A dimension's slices, worst first; a page shows the first few and counts the rest."""

    dimension: str
    rows: list[SliceRow]

    def head(self, limit: int) -> list[SliceRow]:
        return self.rows[:limit]

    def rest_text(self, limit: int) -> str:
        rest = [r.status.code for r in self.rows[limit:]]
        if not rest:
            return ""
        counts = [
            f"{rest.count(code)} {STATUS_LABELS[code][0].lower()}"
            for code in STATUS_LABELS
            if code in rest
        ]
        return f"and {len(rest)} more: {', '.join(counts)}"


@dataclass
class DefinitionNote:
    version: int
    effective_from: date
    formula: str
    in_window: bool


@dataclass
class KpiView:
    kpi_id: str
    name: str
    full_name: str
    owner: str
    perspective: str
    unit: str
    direction: str
    description: str
    question: str
    formula: str
    default_target_text: str
    amber_tolerance: float | None
    target_reason: str
    target_source: str
    review_cadence: str
    current_version: int
    effective_from: date | None
    version_used: int | None
    decimals: int
    value: float | None
    target: float | None
    variance: float | None
    previous_value: float | None
    last_year_value: float | None
    status: Status
    previous_status: Status
    value_text: str
    target_text: str
    variance_text: str
    change_prev_text: str
    change_year_text: str
    change_prev_class: str
    change_year_class: str
    trend: list[TrendPoint]
    slices: list[SliceGroup]
    quality_state: str
    quality_details: str
    comment: str | None
    red_streak: int
    definition_notes: list[DefinitionNote] = field(default_factory=list)
    # The previous month / the same month last year was restated after it was reported:
    # the comparison is against today's figure, not the one in that month's scorecard.
    previous_restated: bool = False
    last_year_restated: bool = False
    sparkline: str = ""
    trend_chart: str = ""
    # None where the published copy has no such table or no row for this KPI.
    ytd: outlook.YearToDate | None = None
    projection: outlook.Projection | None = None

    @property
    def slice_limit(self) -> int:
        return SLICES_PER_CARD

    @property
    def quality_label(self) -> str:
        return QUALITY_LABELS.get(self.quality_state, self.quality_state)

    @property
    def provisional(self) -> bool:
        return self.quality_state in ("warned", "failed")

    @property
    def commentary_missing(self) -> bool:
        return self.status.code == "red" and not self.comment

    @property
    def direction_text(self) -> str:
        return "higher is better" if self.direction == "higher_is_better" else "lower is better"


@dataclass
class Restatement:
    """A company-wide month whose published figure changed after it was reported."""

    kpi_id: str
    kpi_name: str
    period: date
    reported_text: str
    current_text: str
    reported_status: Status
    current_status: Status
    reason: str
    detail: str
    restated_at: datetime


@dataclass
class Mover:
    kpi: KpiView
    before_text: str
    after_text: str
    change_text: str
    status_change: str
    score: float


@dataclass
class PerspectiveView:
    key: str
    title: str
    question: str
    kpis: list[KpiView]
    score: outlook.ScoreView | None = None


@dataclass
class Scorecard:
    month: date
    month_label: str
    as_of: date
    is_complete: bool
    generated_at: datetime
    owner: str | None
    source: Path
    kpis: list[KpiView]
    perspectives: list[PerspectiveView]
    deteriorations: list[Mover]
    improvements: list[Mover]
    red_streaks: list[KpiView]
    quality_available: bool
    commentary: Commentary
    run_id: str = ""
    assets: dict[str, tuple[bytes, str]] = field(default_factory=dict, repr=False)
    # Restated months (company-wide, month grain) since the last scorecard; all of them
    # when no earlier scorecard is known (restated_since None).
    restatements: list[Restatement] = field(default_factory=list)
    restated_since: datetime | None = None
    # The year beside the month; None where the published copy predates its table.
    year_to_date_available: bool = False
    projections_available: bool = False
    company_score: outlook.ScoreView | None = None
    goals: outlook.Goals | None = None

    trend_months = TREND_MONTHS
    summary_comment_chars = SUMMARY_COMMENT_CHARS
    # A first definition version dated on or before this governs every period.
    beginning = date(2000, 1, 1)
    compact_perspective_kpis = COMPACT_PERSPECTIVE_KPIS

    @property
    def month_key(self) -> str:
        return self.month.strftime("%Y-%m")

    @property
    def month_end(self) -> date:
        return add_months(self.month, 1) - timedelta(days=1)

    @property
    def previous_month(self) -> date:
        return add_months(self.month, -1)

    @property
    def last_year_month(self) -> date:
        return add_months(self.month, -12)

    @staticmethod
    def status_of(code: str) -> Status:
        return Status.of(code)

    @staticmethod
    def milestone_mark(code: str) -> outlook.Mark:
        return outlook.Mark(*outlook.MILESTONE_STATUS[code])

    @staticmethod
    def status_label(code: str) -> str:
        return Status.of(code).label

    @staticmethod
    def perspective_title(key: str) -> str:
        return PERSPECTIVES.get(key, (key.replace("_", " ").capitalize(), ""))[0]

    @property
    def status_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUS_LABELS, 0)
        for kpi in self.kpis:
            counts[kpi.status.code] += 1
        return counts

    @property
    def quality_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(QUALITY_LABELS, 0)
        for kpi in self.kpis:
            counts[kpi.quality_state] = counts.get(kpi.quality_state, 0) + 1
        return counts

    @property
    def missing_commentary(self) -> list[KpiView]:
        return [k for k in self.kpis if k.commentary_missing]

    @property
    def provisional_kpis(self) -> list[KpiView]:
        return [k for k in self.kpis if k.provisional]

    @property
    def definition_versions(self) -> dict[str, int | None]:
        return {k.kpi_id: k.version_used for k in self.kpis}

    @property
    def days_after_month(self) -> int:
        return (self.as_of - add_months(self.month, 1)).days + 1

    def numbers_fingerprint(self) -> str:
        """SHA-256 of every number the report prints, in a canonical form."""
        payload = [
            {
                "kpi": k.kpi_id,
                "value": k.value,
                "target": k.target,
                "variance": k.variance,
                "status": k.status.code,
                "previous": k.previous_value,
                "last_year": k.last_year_value,
                "version": k.version_used,
                "quality": k.quality_state,
                "trend": [(p.month.isoformat(), p.value, p.target, p.status.code) for p in k.trend],
                "slices": [
                    (
                        g.dimension,
                        [(r.label, r.value_text, r.target_text, r.status.code) for r in g.rows],
                    )
                    for g in k.slices
                ],
            }
            for k in self.kpis
        ]
        blob = json.dumps(
            {"month": self.month_key, "as_of": self.as_of.isoformat(), "kpis": payload},
            sort_keys=True,
            default=repr,
        )
        return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class RenderResult:
    pdf: bytes
    pages: int
    seconds: float
    refused_urls: list[str]
