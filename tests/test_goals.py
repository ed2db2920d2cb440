"""Goal files: validation with file and line, loading, and kpi.goal_progress / kpi.kpi_scores
from a real CLI run on generated data, recomputed with pandas."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
import yaml

from orchestration.goals import assets as goal_assets
from orchestration.goals.files import (
    GoalFileError,
    load_goals,
    parse_goal_file,
    registry_dimensions,
    write_goals,
)
from orchestration.resources import WarehouseResource
from orchestration.settings import DBT_PROJECT_DIR
from tests.conftest import run_on_demo_data

GOOD = """\
objectives:
  - id: ship
    title: Ship on time
    owner: COO
    period: {start: 2026-01-01, end: 2026-12-31}
    key_results:
      - id: rate
        kpi: on_time_delivery_rate
        slice: {dimension: carrier, value: ups}
        start: 0.8
        target: 0.95
        due: 2026-12-31
        milestones:
          - {date: 2026-06-30, expected: 0.88}
      - id: defects
        kpi: defect_rate
        start: 0.05
        target: 0.02
        due: 2026-09-30
"""


def _write(tmp_path: Path, text: str, name: str = "goals.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_repository_goal_files_are_valid():
    objectives = load_goals(DBT_PROJECT_DIR)
    assert objectives, "dbt_project/goals holds no objective"
    registry = registry_dimensions()
    for objective in objectives:
        assert objective.key_results, objective.id
        for kr in objective.key_results:
            assert kr.kpi_id in registry
            assert kr.dimension == "all" or kr.dimension in registry[kr.kpi_id]


def test_a_valid_file_parses_with_its_slices_and_milestones(tmp_path):
    (objective,) = parse_goal_file(_write(tmp_path, GOOD), registry_dimensions())
    assert (objective.id, objective.owner, objective.period_start) == (
        "ship",
        "COO",
        dt.date(2026, 1, 1),
    )
    rate, defects = objective.key_results
    assert (rate.dimension, rate.dimension_value, rate.start, rate.target) == (
        "carrier",
        "ups",
        0.8,
        0.95,
    )
    assert [(m.date, m.expected) for m in rate.milestones] == [(dt.date(2026, 6, 30), 0.88)]
    assert (defects.dimension, defects.dimension_value, defects.milestones) == ("all", "all", [])


def test_an_unknown_kpi_fails_naming_the_file_and_the_line(tmp_path):
    path = _write(tmp_path, GOOD.replace("kpi: defect_rate", "kpi: defects_per_unit"))
    with pytest.raises(GoalFileError) as caught:
        parse_goal_file(path, registry_dimensions())
    assert str(caught.value) == (
        f"Goal file {path}, line 16: key result 'defects' of objective 'ship' refers to the "
        "KPI 'defects_per_unit', which the KPI registry does not define."
    )


def test_a_slice_outside_the_kpis_dimensions_fails_naming_the_file_and_the_line(tmp_path):
    path = _write(tmp_path, GOOD.replace("dimension: carrier", "dimension: plant"))
    with pytest.raises(GoalFileError) as caught:
        parse_goal_file(path, registry_dimensions())
    assert str(caught.value) == (
        f"Goal file {path}, line 9: key result 'rate' of objective 'ship' slices "
        "on_time_delivery_rate by 'plant', which is not one of its dimensions (carrier, region)."
    )


def test_a_block_slice_names_the_line_of_its_dimension(tmp_path):
    text = GOOD.replace(
        "slice: {dimension: carrier, value: ups}",
        "slice:\n          value: ups\n          dimension: channel",
    )
    with pytest.raises(GoalFileError, match=r", line 11: key result 'rate' .* by 'channel'"):
        parse_goal_file(_write(tmp_path, text), registry_dimensions())


def test_a_missing_date_and_an_unknown_key_fail_with_their_lines(tmp_path):
    with pytest.raises(GoalFileError, match=r"line 15: key result 'defects' .* has no 'due'"):
        parse_goal_file(
            _write(tmp_path, GOOD.replace("        due: 2026-09-30\n", "")), registry_dimensions()
        )
    with pytest.raises(GoalFileError, match=r"line 10: .* unknown key 'begin'"):
        parse_goal_file(
            _write(tmp_path, GOOD.replace("start: 0.8", "begin: 0.8")), registry_dimensions()
        )


def _project_with_goals(tmp_path: Path, text: str) -> Path:
    project = tmp_path / "project"
    registry = project / "models" / "marts" / "kpis"
    registry.mkdir(parents=True)
    (registry / "_kpis__models.yml").write_text(
        (DBT_PROJECT_DIR / "models" / "marts" / "kpis" / "_kpis__models.yml").read_text()
    )
    (project / "goals").mkdir()
    (project / "goals" / "bad.yml").write_text(text)
    return project


def test_the_pipeline_step_refuses_a_bad_goal_file_and_loads_a_good_one(tmp_path, monkeypatch):
    warehouse = WarehouseResource(
        path=str(tmp_path / "w.duckdb"), published_path=str(tmp_path / "p.duckdb")
    )
    bad = _project_with_goals(tmp_path, GOOD.replace("kpi: defect_rate", "kpi: nope"))
    monkeypatch.setattr(goal_assets, "DBT_PROJECT_DIR", bad)
    result = dg.materialize(
        [goal_assets.goal_files], resources={"warehouse": warehouse}, raise_on_error=False
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert failure.step_failure_data.user_failure_data.description == (
        f"Goal file {bad / 'goals' / 'bad.yml'}, line 16: key result 'defects' of objective "
        "'ship' refers to the KPI 'nope', which the KPI registry does not define."
    )

    (bad / "goals" / "bad.yml").write_text(GOOD)
    result = dg.materialize([goal_assets.goal_files], resources={"warehouse": warehouse})
    assert result.success
    con = duckdb.connect(warehouse.path)
    try:
        krs = con.execute(
            "select key_result_id, kpi_id, dimension, dimension_value, start_value, target_value, "
            "due_date from raw_goals.key_results order by key_result_id"
        ).fetchall()
        milestones = con.execute(
            "select key_result_id, milestone_date, expected_value from raw_goals.milestones"
        ).fetchall()
    finally:
        con.close()
    assert krs == [
        ("defects", "defect_rate", "all", "all", 0.05, 0.02, dt.date(2026, 9, 30)),
        ("rate", "on_time_delivery_rate", "carrier", "ups", 0.8, 0.95, dt.date(2026, 12, 31)),
    ]
    assert milestones == [("rate", dt.date(2026, 6, 30), 0.88)]


def test_writing_goals_again_replaces_them(tmp_path):
    objectives = parse_goal_file(_write(tmp_path, GOOD), registry_dimensions())
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        assert write_goals(con, objectives) == (2, 1)
        assert write_goals(con, objectives[:0]) == (0, 0)
        assert con.execute("select count(*) from raw_goals.key_results").fetchone() == (0,)
    finally:
        con.close()


# --- the real command line on generated data ---------------------------------------------


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    _, output = run_on_demo_data(tmp_path_factory.mktemp("goals_run"), scale=0.02, seed=23)
    return Path(output.strip().splitlines()[-1].removeprefix("published: "))


def _read(path: Path, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def _month(day: dt.date) -> pd.Timestamp:
    return pd.Timestamp(day.year, day.month, 1)


@pytest.mark.slow
def test_goal_progress_equals_a_pandas_recomputation(published):
    values = _read(
        published,
        "select kpi_id, period_start, period_end, is_complete, dimension, dimension_value, value "
        "from kpi.kpi_values where grain = 'month'",
    )
    values["period_start"] = pd.to_datetime(values["period_start"])
    values["period_end"] = pd.to_datetime(values["period_end"])
    progress = _read(published, "select * from kpi.goal_progress")
    as_of = pd.Timestamp(progress["as_of_date"].iloc[0])
    due_soon_days = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"][
        "goal_due_soon_days"
    ]

    expected_rows = 0
    for path in sorted((DBT_PROJECT_DIR / "goals").glob("*.yml")):
        for obj in yaml.safe_load(path.read_text())["objectives"]:
            kr_progress = []
            for kr in obj["key_results"]:
                piece = kr.get("slice") or {"dimension": "all", "value": "all"}
                series = values[
                    (values.kpi_id == kr["kpi"])
                    & (values.dimension == piece["dimension"])
                    & (values.dimension_value == str(piece["value"]))
                ]
                measured = series[
                    series.is_complete
                    & series.value.notna()
                    & (series.period_start <= pd.Timestamp(kr["due"]))
                    & (series.period_end > pd.Timestamp(obj["period"]["start"]))
                ].sort_values("period_start")
                rows = progress[
                    (progress.objective_id == obj["id"]) & (progress.key_result_id == kr["id"])
                ]
                milestones = kr.get("milestones") or []
                assert len(rows) == max(len(milestones), 1), (obj["id"], kr["id"])
                expected_rows += len(rows)
                if measured.empty:
                    assert rows.progress.isna().all()
                    kr_progress.append(None)
                else:
                    current = measured.iloc[-1].value
                    share = (current - kr["start"]) / (kr["target"] - kr["start"])
                    expected = min(max(100 * share, 0.0), 100.0)
                    assert rows.progress.tolist() == pytest.approx([expected] * len(rows))
                    kr_progress.append(expected)
                rising = kr["target"] > kr["start"]
                for ms in milestones:
                    row = rows[pd.to_datetime(rows.milestone_date) == pd.Timestamp(ms["date"])]
                    month = _month(ms["date"])
                    complete = month + pd.DateOffset(months=1) <= as_of + pd.Timedelta(days=1)
                    found = series[series.period_start == month].value
                    value = found.iloc[0] if len(found) else None
                    if complete:
                        reached = (
                            value is not None
                            and not pd.isna(value)
                            and (value >= ms["expected"] if rising else value <= ms["expected"])
                        )
                        status = "met" if reached else "missed"
                    elif pd.Timestamp(ms["date"]) <= as_of + pd.Timedelta(days=due_soon_days):
                        status = "due_soon"
                    else:
                        status = "upcoming"
                    assert row.milestone_status.tolist() == [status], (kr["id"], ms["date"])
            measured_krs = [p for p in kr_progress if p is not None]
            objective = progress[progress.objective_id == obj["id"]].objective_progress
            if measured_krs:
                mean = sum(measured_krs) / len(measured_krs)
                assert objective.tolist() == pytest.approx([mean] * len(objective))
    assert expected_rows and len(progress) == expected_rows
    # The demo goal file is written for the demo data: its key results are measured.
    assert progress.progress.notna().any()
    assert set(progress.milestone_status.dropna()) & {"met", "missed"}


@pytest.mark.slow
def test_kpi_scores_equal_a_pandas_recomputation(published):
    values = _read(
        published,
        "select v.kpi_id, v.period_start, v.value, v.target, d.perspective, d.direction "
        "from kpi.kpi_values v join kpi.kpi_definitions d "
        "on d.kpi_id = v.kpi_id and d.is_current "
        "where v.grain = 'month' and v.dimension = 'all'",
    )
    models = yaml.safe_load(
        (DBT_PROJECT_DIR / "models" / "marts" / "kpis" / "_kpis__models.yml").read_text()
    )["models"]
    weights = {
        m["config"]["meta"]["kpi"]["id"]: m["config"]["meta"]["kpi"]["score_weight"]
        for m in models
        if "kpi" in m.get("config", {}).get("meta", {})
    }
    values["weight"] = values.kpi_id.map(weights)
    scored = values[values.value.notna() & values.target.notna() & (values.target > 0)].copy()
    lower = scored.direction == "lower_is_better"
    ratio = (scored.value / scored.target).where(~lower, scored.target / scored.value)
    ratio = ratio.where(~(lower & (scored.value <= 0)), 1.2)
    scored["achievement"] = ratio.clip(0, 1.2)
    scores = _read(published, "select * from kpi.kpi_scores")
    assert len(scores) == values.period_start.nunique() * 5
    checked = 0
    for row in scores.itertuples():
        mine = scored[scored.period_start == row.month]
        if row.scope == "perspective":
            mine = mine[mine.perspective == row.perspective]
        assert row.kpis_scored == len(mine)
        if mine.empty:
            assert pd.isna(row.score)
            continue
        weighted = (mine.weight * mine.achievement).sum() / mine.weight.sum()
        assert row.score == pytest.approx(round(min(100 * weighted, 100), 2), abs=0.006)
        assert row.weight_scored == pytest.approx(mine.weight.sum())
        checked += 1
    assert checked > 0
