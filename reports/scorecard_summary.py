"""The scorecard's pages around the KPI cards, made from the cards: the perspectives they
are grouped in, what moved (the largest deteriorations and improvements), the KPIs off
track for months in a row, and the restated months."""

from __future__ import annotations

from datetime import datetime, timezone

from reports import outlook
from reports.formatting import format_value
from reports.model import (
    PERSPECTIVES,
    STATUS_RANK,
    KpiView,
    Mover,
    PerspectiveView,
    Restatement,
    Status,
)
from reports.scorecard_cards import clip, num


def perspectives(
    kpis: list[KpiView], scores: dict[str, outlook.ScoreView]
) -> list[PerspectiveView]:
    """A section per perspective with its KPIs and its score."""
    # The registry lists the KPIs perspective by perspective: a section comes where its
    # first KPI does.
    found = []
    for key in dict.fromkeys(k.perspective for k in kpis):
        members = [k for k in kpis if k.perspective == key]
        title, question = PERSPECTIVES.get(key, (key.replace("_", " ").capitalize(), ""))
        found.append(PerspectiveView(key, title, question, members, score=scores.get(key)))
    return found


def _status_change(before: Status, after: Status) -> str:
    if before.code == after.code:
        return after.label
    return f"{before.label} \u2192 {after.label}"


def movers(kpis: list[KpiView]) -> tuple[list[Mover], list[Mover]]:
    """The largest moves against and with the KPI's direction; ties keep the given order."""
    worse, better = [], []
    for place, kpi in enumerate(kpis):
        if kpi.value is None or kpi.previous_value is None:
            continue
        delta = kpi.value - kpi.previous_value
        harm = -delta if kpi.direction == "higher_is_better" else delta
        # One scale for all units: the move as a share of the target (else of the level).
        scale = abs(kpi.target) if kpi.target else abs(kpi.previous_value)
        if not scale or harm == 0:
            continue
        step = STATUS_RANK.get(kpi.status.code, 0) - STATUS_RANK.get(kpi.previous_status.code, 0)
        mover = Mover(
            kpi=kpi,
            before_text=format_value(kpi.previous_value, kpi.unit, kpi.decimals),
            after_text=kpi.value_text,
            change_text=kpi.change_prev_text,
            status_change=_status_change(kpi.previous_status, kpi.status),
            score=harm / scale,
        )
        if harm > 0:
            worse.append((-step, -mover.score, place, mover))
        else:
            better.append((step, mover.score, place, mover))
    worse.sort(key=lambda t: t[:3])
    better.sort(key=lambda t: t[:3])
    return [t[-1] for t in worse[:5]], [t[-1] for t in better[:3]]


def red_streaks(kpis: list[KpiView]) -> list[KpiView]:
    """The KPIs off track two months or more in a row, the longest streak first."""
    return sorted(
        (k for k in kpis if k.red_streak >= 2),
        # A stable sort: equal streaks keep the catalog's order.
        key=lambda k: -k.red_streak,
    )


def restatements(
    restated: list[dict], kpis: list[KpiView], restated_since: datetime | None
) -> list[Restatement]:
    """The restatements of the KPIs shown, made after ``restated_since`` (UTC; None: all)."""
    shown = {k.kpi_id: k for k in kpis}
    since = restated_since.astimezone(timezone.utc).replace(tzinfo=None) if restated_since else None
    return [
        Restatement(
            kpi_id=r["kpi_id"],
            kpi_name=shown[r["kpi_id"]].name,
            period=r["period_start"],
            reported_text=format_value(
                num(r["reported_value"]), shown[r["kpi_id"]].unit, shown[r["kpi_id"]].decimals
            ),
            current_text=format_value(
                num(r["current_value"]), shown[r["kpi_id"]].unit, shown[r["kpi_id"]].decimals
            ),
            reported_status=Status.of(r["reported_status"]),
            current_status=Status.of(r["current_status"]),
            reason=r["reason"],
            detail=clip(r["detail"], 160),
            restated_at=r["restated_at"],
        )
        for r in restated
        if r["kpi_id"] in shown and (since is None or r["restated_at"] > since)
    ]
