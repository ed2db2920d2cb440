"""The scorecard's KPI cards: one ``KpiView`` per KPI of the month, in the registry's order.

A card holds the month's value against its target, the changes on the previous month and
on last year, the trend, the worst slices, the quality state, the owner's comment and the
definition versions, every number already formatted; it is built from the rows
``reports.scorecard_reads`` reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from reports import registry
from reports.commentary import Commentary
from reports.formatting import (
    MINUS,
    change_value,
    decimals_for,
    format_change,
    format_difference,
    format_value,
    slice_label,
)
from reports.model import (
    QUALITY_RANK,
    STATUS_RANK,
    TREND_MONTHS,
    DefinitionNote,
    KpiView,
    SliceGroup,
    SliceRow,
    Status,
    TrendPoint,
    add_months,
)
from reports.scorecard_reads import PublishedMonth, ScorecardError

SLICE_SEVERITY = {"red": 0, "amber": 1, "green": 2, "no_target": 3, "no_data": 4}
# Names and slice labels are data: bounded so one long entry cannot break a page grid.
MAX_NAME_CHARS = 70
MAX_LABEL_CHARS = 60


def clip(text: str | None, limit: int) -> str:
    """The text on one line, cut to ``limit`` characters with an ellipsis."""
    text = "" if text is None else " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def num(value) -> float | None:
    """A number of the copy as a float; NULL and NaN are None."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


# --- what the cards are built from ------------------------------------------------------


@dataclass
class KpiDefinitions:
    """Each KPI's current definition (else its last version) and all its versions."""

    current: dict[str, dict]
    versions: dict[str, list[dict]]


def definitions_by_kpi(definitions: list[dict]) -> KpiDefinitions:
    current = {}
    versions: dict[str, list[dict]] = {}
    for d in definitions:
        versions.setdefault(d["kpi_id"], []).append(d)
        if d["is_current"]:
            current[d["kpi_id"]] = d
    for kpi_id, rows in versions.items():
        current.setdefault(kpi_id, rows[-1])
    return KpiDefinitions(current, versions)


def unit_and_decimals(definition: dict) -> tuple[str, int]:
    """The KPI's unit and the decimals every one of its numbers is printed with."""
    unit = definition.get("unit") or "count"
    decimals = decimals_for(
        unit, num(definition.get("default_target")), num(definition.get("amber_tolerance"))
    )
    return unit, decimals


def quality_by_kpi(rows: list[dict]) -> dict[str, tuple[str, str]]:
    """Per KPI, the worst quality state of the month and its details."""
    found: dict[str, tuple[str, list[str]]] = {}
    for row in rows:
        state = row["quality_state"] if row["quality_state"] in QUALITY_RANK else "warned"
        current, details = found.get(row["kpi_id"], ("passed", []))
        if QUALITY_RANK[state] > QUALITY_RANK[current]:
            current = state
        if row["details"] and state != "passed":
            details.append(str(row["details"]))
        found[row["kpi_id"]] = (current, details)
    return {k: (s, clip("; ".join(d), 400)) for k, (s, d) in found.items()}


@dataclass
class CardSources:
    """What every card of the month reads, by KPI."""

    start: date
    window_start: date
    versions: dict[str, list[dict]]
    history: dict[str, dict[date, dict]]
    slices: dict[str, list[dict]]
    labels: dict[str, dict[str, str]]
    quality: dict[str, tuple[str, str]]
    comments: dict[str, str]
    restated_months: set[tuple[str, date]]


def card_sources(
    published: PublishedMonth,
    definitions: KpiDefinitions,
    commentary: Commentary,
    start: date,
    window_start: date,
) -> CardSources:
    history: dict[str, dict[date, dict]] = {}
    for r in published.history:
        history.setdefault(r["kpi_id"], {})[r["period_start"]] = r
    slices: dict[str, list[dict]] = {}
    for r in published.slices:
        slices.setdefault(r["kpi_id"], []).append(r)
    return CardSources(
        start=start,
        window_start=window_start,
        versions=definitions.versions,
        history=history,
        slices=slices,
        labels=published.labels,
        quality=quality_by_kpi(published.quality or []),
        comments=commentary.comments,
        restated_months={(r["kpi_id"], r["period_start"]) for r in published.restated},
    )


def in_catalog_order(rows: list[dict]) -> list[dict]:
    """The rows in the registry's order; a KPI the registry does not list comes last, by id."""
    try:
        order = registry.catalog_order()
    except OSError as exc:
        raise ScorecardError(
            f"The KPI registry {registry.REGISTRY_FILE} cannot be read: {exc.strerror or exc}."
        ) from exc
    rank = {kpi_id: index for index, kpi_id in enumerate(order)}
    return sorted(rows, key=lambda r: (rank.get(r["kpi_id"], len(rank)), r["kpi_id"]))


# --- the cards --------------------------------------------------------------------------


def build_kpi_cards(
    this_month: list[dict],
    definitions: KpiDefinitions,
    sources: CardSources,
    owner: str | None = None,
) -> list[KpiView]:
    """A card per KPI of the month (``this_month``: its company-wide rows); for an owner,
    only the KPIs they own."""
    kpis: list[KpiView] = []
    for row in in_catalog_order(this_month):
        d = definitions.current.get(row["kpi_id"], {})
        if owner is not None and (d.get("owner") or "").strip().casefold() != owner.casefold():
            continue
        kpis.append(kpi_card(row, d, sources))
    return kpis


def owner_as_defined(
    owner: str | None, kpis: list[KpiView], current: dict[str, dict]
) -> str | None:
    """The owner as the definitions spell it, whatever case was asked for."""
    if owner is None:
        return None
    if not kpis:
        owners = sorted({(d.get("owner") or "").strip() for d in current.values()} - {""})
        raise ScorecardError(f"No KPI is owned by '{owner}'; owners are: {', '.join(owners)}.")
    return current.get(kpis[0].kpi_id, {}).get("owner") or owner


def kpi_card(row: dict, d: dict, sources: CardSources) -> KpiView:
    """The card of one KPI: ``row`` its company-wide value of the month, ``d`` its definition."""
    kpi_id = row["kpi_id"]
    start = sources.start
    unit, decimals = unit_and_decimals(d)
    direction = d.get("direction") or "higher_is_better"
    months = sources.history.get(kpi_id, {})
    value, target = num(row["value"]), num(row["target"])
    previous = num(row["previous_value"])
    last_year_row = months.get(add_months(start, -12))
    last_year = num(last_year_row["value"]) if last_year_row else None
    previous_row = months.get(add_months(start, -1))
    change_prev = change_value(value, previous, unit)
    change_year = change_value(value, last_year, unit)
    change_prev_text = format_change(value, previous, unit, decimals)
    change_year_text = format_change(value, last_year, unit, decimals)
    state, details = sources.quality.get(kpi_id, ("not_assessed", ""))
    return KpiView(
        kpi_id=kpi_id,
        name=clip(d.get("name") or kpi_id, MAX_NAME_CHARS),
        full_name=clip(d.get("name") or kpi_id, 400),
        owner=clip(d.get("owner") or "unassigned", MAX_NAME_CHARS),
        perspective=d.get("perspective") or "other",
        unit=unit,
        direction=direction,
        description=clip(d.get("description"), 400),
        question=clip(d.get("question"), 200),
        formula=clip(d.get("formula"), 900),
        default_target_text=format_value(num(d.get("default_target")), unit, decimals),
        amber_tolerance=num(d.get("amber_tolerance")),
        target_reason=clip(d.get("target_reason"), 500),
        target_source=clip(d.get("target_source"), 60),
        review_cadence=clip(d.get("review_cadence"), 30),
        current_version=d.get("definition_version") or 0,
        effective_from=d.get("effective_from"),
        version_used=row["definition_version"],
        decimals=decimals,
        value=value,
        target=target,
        variance=num(row["variance"]),
        previous_value=previous,
        last_year_value=last_year,
        status=Status.of(row["status"]),
        previous_status=Status.of(previous_row["status"] if previous_row else None),
        value_text=format_value(value, unit, decimals),
        target_text=format_value(target, unit, decimals),
        variance_text=format_difference(num(row["variance"]), unit, decimals),
        change_prev_text=change_prev_text,
        change_year_text=change_year_text,
        change_prev_class=change_class(direction, change_prev, change_prev_text),
        change_year_class=change_class(direction, change_year, change_year_text),
        trend=trend(months, sources.window_start),
        slices=slice_groups(
            sources.slices.get(kpi_id, []),
            d.get("dimensions"),
            direction,
            unit,
            decimals,
            sources.labels,
        ),
        quality_state=state,
        quality_details=details,
        comment=sources.comments.get(kpi_id),
        red_streak=red_streak(months, start),
        definition_notes=definition_notes(
            sources.versions.get(kpi_id, []), sources.window_start, add_months(start, 1)
        ),
        previous_restated=(kpi_id, add_months(start, -1)) in sources.restated_months,
        last_year_restated=(kpi_id, add_months(start, -12)) in sources.restated_months,
    )


def trend(months: dict[date, dict], window_start: date) -> list[TrendPoint]:
    """The KPI's TREND_MONTHS months from ``window_start``; a month without a row has no data."""
    return [
        TrendPoint(
            month=m,
            value=num(months[m]["value"]) if m in months else None,
            target=num(months[m]["target"]) if m in months else None,
            status=Status.of(months[m]["status"] if m in months else "no_data"),
        )
        for m in (add_months(window_start, i) for i in range(TREND_MONTHS))
    ]


def red_streak(months: dict[date, dict], start: date) -> int:
    """How many months up to ``start`` in a row the KPI has been off track."""
    streak = 0
    cursor = start
    while cursor in months and months[cursor]["status"] == "red":
        streak += 1
        cursor = add_months(cursor, -1)
    return streak


def slice_groups(
    slices: list[dict],
    dimensions: str | None,
    direction: str,
    unit: str,
    decimals: int,
    labels: dict[str, dict[str, str]],
) -> list[SliceGroup]:
    """The KPI's slices by dimension, the definition's dimensions first, worst slice first."""
    groups = []
    dims = [x.strip() for x in (dimensions or "").split(",") if x.strip()]
    found = sorted({s["dimension"] for s in slices})
    for dim in dims + [x for x in found if x not in dims]:
        members = [s for s in slices if s["dimension"] == dim]
        if not members:
            continue
        # Worst first: by status, then furthest on the wrong side (without a
        # target, the largest first).
        sign = 1.0 if direction == "higher_is_better" else -1.0
        members.sort(
            key=lambda s: (
                SLICE_SEVERITY.get(s["status"], 4),
                s["dimension_value"] == "unknown",
                num(s["value"]) is None,
                (sign if s["status"] in STATUS_RANK else -1.0) * (num(s["value"]) or 0.0),
                str(s["dimension_value"]),
            )
        )
        groups.append(
            SliceGroup(
                dimension=clip(dim, MAX_LABEL_CHARS),
                rows=[
                    SliceRow(
                        dimension=dim,
                        label=clip(
                            slice_label(dim, s["dimension_value"], labels.get(dim)),
                            MAX_LABEL_CHARS,
                        ),
                        value_text=format_value(num(s["value"]), unit, decimals),
                        target_text=format_value(num(s["target"]), unit, decimals),
                        status=Status.of(s["status"]),
                    )
                    for s in members
                ],
            )
        )
    return groups


def definition_notes(
    versions: list[dict], window_start: date, window_end: date
) -> list[DefinitionNote]:
    """The KPI's definition versions after the first; ``in_window`` if one took effect in
    the trend's months."""
    return [
        DefinitionNote(
            version=v["definition_version"],
            effective_from=v["effective_from"],
            formula=v["formula"] or "",
            in_window=v["effective_from"] is not None
            and window_start <= v["effective_from"] < window_end,
        )
        for v in versions
        if v["definition_version"] and v["definition_version"] > 1
    ]


def change_class(kpi_direction: str, change: float | None, shown: str) -> str:
    # What the reader sees decides: a change that rounds to zero is flat.
    if change is None or change == 0 or shown[:1] not in ("+", MINUS):
        return "flat"
    improving = (change > 0) == (kpi_direction == "higher_is_better")
    return "better" if improving else "worse"
