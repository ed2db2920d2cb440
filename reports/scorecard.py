"""The monthly scorecard: read the published KPI copy into a view model, render it.

``load_scorecard`` reads the published, read-only copy (what BI tools see), so every
number in the PDF is a number of the ``kpi`` schema (``kpi_values``; the year, scores and
goals from the tables ``reports.outlook`` reads); ``render_pdf`` turns the model into
a PDF through the jinja2 templates in ``templates/`` and WeasyPrint, with a URL fetcher
that serves only the bundled assets and the charts made for this render.
"""

from __future__ import annotations

import calendar
import math
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb

from reports import charts, outlook, registry
from reports.archive import archive_dir, archive_scorecard, last_generated_at
from reports.commentary import load_commentary
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
    PERSPECTIVES,
    QUALITY_RANK,
    STATUS_RANK,
    TREND_MONTHS,
    DefinitionNote,
    KpiView,
    Mover,
    PerspectiveView,
    RenderResult,
    Restatement,
    Scorecard,
    SliceGroup,
    SliceRow,
    Status,
    TrendPoint,
    add_months,
)
from reports.published import latest_complete_month_start
from reports.render import html_to_pdf, older_objects_left_alone, start_preload
from reports.render import render_html as _render_html

SLICE_SEVERITY = {"red": 0, "amber": 1, "green": 2, "no_target": 3, "no_data": 4}
# Names and slice labels are data: bounded so one long entry cannot break a page grid.
MAX_NAME_CHARS = 70
MAX_LABEL_CHARS = 60


class ScorecardError(Exception):
    """The scorecard cannot be made; the message is one sentence a user can act on."""


def _clip(text: str | None, limit: int) -> str:
    text = "" if text is None else " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _num(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _month_start(month: str) -> date:
    try:
        return date.fromisoformat(f"{month}-01")
    except ValueError:
        raise ScorecardError(f"'{month}' is not a month of the form YYYY-MM.") from None


# --- loading --------------------------------------------------------------------------


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    if not Path(path).is_file():
        raise ScorecardError(
            f"There is no published KPI copy at {path}; run `kpi-warehouse run` first."
        )
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise ScorecardError(f"The published KPI copy {path} cannot be opened: {first}") from exc


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def latest_complete_month(published_path: Path) -> str:
    """The last month whose KPIs are complete in the published copy (YYYY-MM)."""
    con = _connect(published_path)
    try:
        start = latest_complete_month_start(con)
    finally:
        con.close()
    if start is None:
        raise ScorecardError(f"The published KPI copy {published_path} has no complete month yet.")
    return start.strftime("%Y-%m")


def _in_catalog_order(rows: list[dict]) -> list[dict]:
    """The rows in the registry's order; a KPI the registry does not list comes last, by id."""
    try:
        order = registry.catalog_order()
    except OSError as exc:
        raise ScorecardError(
            f"The KPI registry {registry.REGISTRY_FILE} cannot be read: {exc.strerror or exc}."
        ) from exc
    rank = {kpi_id: index for index, kpi_id in enumerate(order)}
    return sorted(rows, key=lambda r: (rank.get(r["kpi_id"], len(rank)), r["kpi_id"]))


def _quality(con, month: date) -> tuple[bool, dict[str, tuple[str, str]]]:
    """Per KPI, the worst quality state of the month and its details; absent table = none."""
    if not _table_exists(con, "kpi", "kpi_quality"):
        return False, {}
    rows = _rows(
        con,
        "select kpi_id, quality_state, details from kpi.kpi_quality "
        "where grain = 'month' and period_start = ? order by kpi_id, quality_state, details",
        [month],
    )
    found: dict[str, tuple[str, list[str]]] = {}
    for row in rows:
        state = row["quality_state"] if row["quality_state"] in QUALITY_RANK else "warned"
        current, details = found.get(row["kpi_id"], ("passed", []))
        if QUALITY_RANK[state] > QUALITY_RANK[current]:
            current = state
        if row["details"] and state != "passed":
            details.append(str(row["details"]))
        found[row["kpi_id"]] = (current, details)
    return True, {k: (s, _clip("; ".join(d), 400)) for k, (s, d) in found.items()}


def _status_change(before: Status, after: Status) -> str:
    if before.code == after.code:
        return after.label
    return f"{before.label} \u2192 {after.label}"


def _movers(kpis: list[KpiView]) -> tuple[list[Mover], list[Mover]]:
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


def _change_class(kpi_direction: str, change: float | None, shown: str) -> str:
    # What the reader sees decides: a change that rounds to zero is flat.
    if change is None or change == 0 or shown[:1] not in ("+", MINUS):
        return "flat"
    improving = (change > 0) == (kpi_direction == "higher_is_better")
    return "better" if improving else "worse"


def _year_rows(con, start: date, window_start: date) -> dict[str, list[dict] | None]:
    """The rows of the year-view tables for the month; None for a table the copy lacks."""
    queries = {
        "kpi_period_to_date": (
            "select kpi_id, ytd_value, ytd_target, ytd_status, ytd_months "
            "from kpi.kpi_period_to_date where month = ? and dimension = 'all'",
            [start],
        ),
        "kpi_projections": (
            "select kpi_id, year, projected_value, projected_low, projected_high, year_target, "
            "probability_of_meeting_target, method from kpi.kpi_projections "
            "where month = ? and dimension = 'all'",
            [start],
        ),
        "kpi_scores": (
            "select scope, perspective, month, score, previous_score, kpis_scored, "
            "kpis_in_scope from kpi.kpi_scores where month between ? and ?",
            [window_start, start],
        ),
        "goal_progress": (
            "select * from kpi.goal_progress "
            "order by objective_period_start, objective_id, key_result_id, milestone_date",
            [],
        ),
    }
    return {
        table: _rows(con, sql, params) if _table_exists(con, "kpi", table) else None
        for table, (sql, params) in queries.items()
    }


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
    con = _connect(Path(published_path))
    try:
        if not _table_exists(con, "kpi", "kpi_values") or not _table_exists(
            con, "kpi", "kpi_definitions"
        ):
            raise ScorecardError(
                f"The published copy {published_path} has no kpi.kpi_values or "
                "kpi.kpi_definitions table."
            )
        definitions = _rows(
            con, "select * from kpi.kpi_definitions order by kpi_id, definition_version"
        )
        history = _rows(
            con,
            "select kpi_id, period_start, is_complete, value, target, variance, status, "
            "previous_value, definition_version from kpi.kpi_values "
            "where grain = 'month' and dimension = 'all' and period_start <= ? "
            "order by kpi_id, period_start",
            [start],
        )
        slices = _rows(
            con,
            "select kpi_id, dimension, dimension_value, value, target, status "
            "from kpi.kpi_values where grain = 'month' and period_start = ? "
            "and dimension <> 'all' order by kpi_id, dimension, dimension_value",
            [start],
        )
        # Display names the data gives (services); older copies have none.
        labels: dict[str, dict[str, str]] = {}
        if _table_exists(con, "kpi", "kpi_slice_labels"):
            for row in _rows(
                con, "select dimension, dimension_value, label from kpi.kpi_slice_labels"
            ):
                labels.setdefault(row["dimension"], {})[row["dimension_value"]] = row["label"]
        as_of_row = con.execute(
            "select max(period_start) from kpi.kpi_values where grain = 'day' and dimension = 'all'"
        ).fetchone()
        quality_available, quality = _quality(con, start)
        restated = (
            _rows(
                con,
                "select kpi_id, period_start, reported_value, current_value, reported_status, "
                "current_status, restated_at, reason, detail from kpi.kpi_restatements "
                "where grain = 'month' and dimension = 'all' and period_start <= ? "
                "order by restated_at desc, kpi_id, period_start",
                [start],
            )
            if _table_exists(con, "kpi", "kpi_restatements")
            else []
        )
        year_rows = _year_rows(con, start, window_start)
        span = con.execute(
            "select min(period_start), max(period_start) from kpi.kpi_values "
            "where grain = 'month' and dimension = 'all'"
        ).fetchone()
    finally:
        con.close()

    this_month = [r for r in history if r["period_start"] == start]
    if not this_month:
        covered = f"; it covers {span[0]:%Y-%m} to {span[1]:%Y-%m}" if span and span[0] else ""
        raise ScorecardError(
            f"The published copy {published_path} has no KPI values for {month}{covered}."
        )
    as_of = as_of_row[0] if as_of_row and as_of_row[0] else add_months(start, 1)

    current = {}
    versions: dict[str, list[dict]] = {}
    for d in definitions:
        versions.setdefault(d["kpi_id"], []).append(d)
        if d["is_current"]:
            current[d["kpi_id"]] = d
    for kpi_id, rows in versions.items():
        current.setdefault(kpi_id, rows[-1])

    all_ids = set(current) | {r["kpi_id"] for r in this_month}
    commentary = load_commentary(month, all_ids, commentary_dir, comment_store)

    by_kpi: dict[str, dict[date, dict]] = {}
    for r in history:
        by_kpi.setdefault(r["kpi_id"], {})[r["period_start"]] = r
    slices_by_kpi: dict[str, list[dict]] = {}
    for r in slices:
        slices_by_kpi.setdefault(r["kpi_id"], []).append(r)
    restated_months = {(r["kpi_id"], r["period_start"]) for r in restated}

    window_end = add_months(start, 1)
    kpis: list[KpiView] = []
    for row in _in_catalog_order(this_month):
        kpi_id = row["kpi_id"]
        d = current.get(kpi_id, {})
        if owner is not None and (d.get("owner") or "").strip().casefold() != owner.casefold():
            continue
        unit = d.get("unit") or "count"
        direction = d.get("direction") or "higher_is_better"
        decimals = decimals_for(unit, _num(d.get("default_target")), _num(d.get("amber_tolerance")))
        months = by_kpi.get(kpi_id, {})
        trend = [
            TrendPoint(
                month=m,
                value=_num(months[m]["value"]) if m in months else None,
                target=_num(months[m]["target"]) if m in months else None,
                status=Status.of(months[m]["status"] if m in months else "no_data"),
            )
            for m in (add_months(window_start, i) for i in range(TREND_MONTHS))
        ]
        value, target = _num(row["value"]), _num(row["target"])
        previous = _num(row["previous_value"])
        last_year_row = months.get(add_months(start, -12))
        last_year = _num(last_year_row["value"]) if last_year_row else None
        previous_row = months.get(add_months(start, -1))
        streak = 0
        cursor = start
        while cursor in months and months[cursor]["status"] == "red":
            streak += 1
            cursor = add_months(cursor, -1)

        groups = []
        dims = [x.strip() for x in (d.get("dimensions") or "").split(",") if x.strip()]
        found = sorted({s["dimension"] for s in slices_by_kpi.get(kpi_id, [])})
        for dim in dims + [x for x in found if x not in dims]:
            members = [s for s in slices_by_kpi.get(kpi_id, []) if s["dimension"] == dim]
            if not members:
                continue
            # Worst first: by status, then furthest on the wrong side (without a
            # target, the largest first).
            sign = 1.0 if direction == "higher_is_better" else -1.0
            members.sort(
                key=lambda s: (
                    SLICE_SEVERITY.get(s["status"], 4),
                    s["dimension_value"] == "unknown",
                    _num(s["value"]) is None,
                    (sign if s["status"] in STATUS_RANK else -1.0) * (_num(s["value"]) or 0.0),
                    str(s["dimension_value"]),
                )
            )
            groups.append(
                SliceGroup(
                    dimension=_clip(dim, MAX_LABEL_CHARS),
                    rows=[
                        SliceRow(
                            dimension=dim,
                            label=_clip(
                                slice_label(dim, s["dimension_value"], labels.get(dim)),
                                MAX_LABEL_CHARS,
                            ),
                            value_text=format_value(_num(s["value"]), unit, decimals),
                            target_text=format_value(_num(s["target"]), unit, decimals),
                            status=Status.of(s["status"]),
                        )
                        for s in members
                    ],
                )
            )

        notes = [
            DefinitionNote(
                version=v["definition_version"],
                effective_from=v["effective_from"],
                formula=v["formula"] or "",
                in_window=v["effective_from"] is not None
                and window_start <= v["effective_from"] < window_end,
            )
            for v in versions.get(kpi_id, [])
            if v["definition_version"] and v["definition_version"] > 1
        ]
        change_prev = change_value(value, previous, unit)
        change_year = change_value(value, last_year, unit)
        change_prev_text = format_change(value, previous, unit, decimals)
        change_year_text = format_change(value, last_year, unit, decimals)
        state, details = quality.get(kpi_id, ("not_assessed", ""))
        kpis.append(
            KpiView(
                kpi_id=kpi_id,
                name=_clip(d.get("name") or kpi_id, MAX_NAME_CHARS),
                full_name=_clip(d.get("name") or kpi_id, 400),
                owner=_clip(d.get("owner") or "unassigned", MAX_NAME_CHARS),
                perspective=d.get("perspective") or "other",
                unit=unit,
                direction=direction,
                description=_clip(d.get("description"), 400),
                question=_clip(d.get("question"), 200),
                formula=_clip(d.get("formula"), 900),
                default_target_text=format_value(_num(d.get("default_target")), unit, decimals),
                amber_tolerance=_num(d.get("amber_tolerance")),
                target_reason=_clip(d.get("target_reason"), 500),
                target_source=_clip(d.get("target_source"), 60),
                review_cadence=_clip(d.get("review_cadence"), 30),
                current_version=d.get("definition_version") or 0,
                effective_from=d.get("effective_from"),
                version_used=row["definition_version"],
                decimals=decimals,
                value=value,
                target=target,
                variance=_num(row["variance"]),
                previous_value=previous,
                last_year_value=last_year,
                status=Status.of(row["status"]),
                previous_status=Status.of(previous_row["status"] if previous_row else None),
                value_text=format_value(value, unit, decimals),
                target_text=format_value(target, unit, decimals),
                variance_text=format_difference(_num(row["variance"]), unit, decimals),
                change_prev_text=change_prev_text,
                change_year_text=change_year_text,
                change_prev_class=_change_class(direction, change_prev, change_prev_text),
                change_year_class=_change_class(direction, change_year, change_year_text),
                trend=trend,
                slices=groups,
                quality_state=state,
                quality_details=details,
                comment=commentary.comments.get(kpi_id),
                red_streak=streak,
                definition_notes=notes,
                previous_restated=(kpi_id, add_months(start, -1)) in restated_months,
                last_year_restated=(kpi_id, add_months(start, -12)) in restated_months,
            )
        )
    if owner is not None and kpis:
        # The owner as the definitions spell it, whatever case was asked for.
        owner = current.get(kpis[0].kpi_id, {}).get("owner") or owner
    if owner is not None and not kpis:
        owners = sorted({(d.get("owner") or "").strip() for d in current.values()} - {""})
        raise ScorecardError(f"No KPI is owned by '{owner}'; owners are: {', '.join(owners)}.")

    unit_of = {}
    for kpi_id, d in current.items():
        unit = d.get("unit") or "count"
        decimals = decimals_for(unit, _num(d.get("default_target")), _num(d.get("amber_tolerance")))
        unit_of[kpi_id] = (unit, decimals)
    ytd = outlook.year_to_date(year_rows["kpi_period_to_date"] or [], unit_of)
    projected = outlook.projections(year_rows["kpi_projections"] or [], unit_of)
    for kpi in kpis:
        kpi.ytd = ytd.get(kpi.kpi_id)
        kpi.projection = projected.get(kpi.kpi_id)
    score_months = [add_months(window_start, i) for i in range(TREND_MONTHS)]
    scores = (
        outlook.scores(
            year_rows["kpi_scores"],
            score_months,
            lambda m, v: TrendPoint(m, v, None, Status.of("no_target")),
        )
        if year_rows["kpi_scores"] is not None
        else {}
    )
    goals = None
    if year_rows["goal_progress"] is not None:
        goals = outlook.goals(
            year_rows["goal_progress"],
            start,
            add_months(start, 1) - timedelta(days=1),
            current,
            unit_of,
            labels,
            kpi_ids={k.kpi_id for k in kpis} if owner is not None else None,
            owner=owner,
        )

    # The registry lists the KPIs perspective by perspective: a section comes where its
    # first KPI does.
    perspectives = []
    for key in dict.fromkeys(k.perspective for k in kpis):
        members = [k for k in kpis if k.perspective == key]
        title, question = PERSPECTIVES.get(key, (key.replace("_", " ").capitalize(), ""))
        perspectives.append(PerspectiveView(key, title, question, members, score=scores.get(key)))
    worse, better = _movers(kpis)
    shown = {k.kpi_id: k for k in kpis}
    since = restated_since.astimezone(timezone.utc).replace(tzinfo=None) if restated_since else None
    restatements = [
        Restatement(
            kpi_id=r["kpi_id"],
            kpi_name=shown[r["kpi_id"]].name,
            period=r["period_start"],
            reported_text=format_value(
                _num(r["reported_value"]), shown[r["kpi_id"]].unit, shown[r["kpi_id"]].decimals
            ),
            current_text=format_value(
                _num(r["current_value"]), shown[r["kpi_id"]].unit, shown[r["kpi_id"]].decimals
            ),
            reported_status=Status.of(r["reported_status"]),
            current_status=Status.of(r["current_status"]),
            reason=r["reason"],
            detail=_clip(r["detail"], 160),
            restated_at=r["restated_at"],
        )
        for r in restated
        if r["kpi_id"] in shown and (since is None or r["restated_at"] > since)
    ]
    return Scorecard(
        month=start,
        month_label=f"{calendar.month_name[start.month]} {start.year}",
        as_of=as_of,
        is_complete=bool(this_month[0]["is_complete"]),
        generated_at=generated_at or datetime.now(timezone.utc).replace(microsecond=0),
        owner=owner,
        source=Path(published_path),
        kpis=kpis,
        perspectives=perspectives,
        deteriorations=worse,
        improvements=better,
        red_streaks=sorted(
            (k for k in kpis if k.red_streak >= 2),
            # A stable sort: equal streaks keep the catalog's order.
            key=lambda k: -k.red_streak,
        ),
        quality_available=quality_available,
        commentary=commentary,
        restatements=restatements,
        restated_since=restated_since,
        year_to_date_available=year_rows["kpi_period_to_date"] is not None,
        projections_available=year_rows["kpi_projections"] is not None,
        company_score=scores.get("company"),
        goals=goals,
    )


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
