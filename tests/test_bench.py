"""The benchmark harness at a tiny scale, through the real command line.

This proves the harness works end to end (every stage measured, the floor computed and
agreeing with the pipeline on every row of kpi_values); it asserts no timing, since CI
machines vary too much.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

STAGES = (
    "generate",
    "startup",
    "extract",
    "quality",
    "dbt",
    "publish",
    "other",
    "pipeline",
    "scorecard",
    "render",
    "end_to_end",
    "floor",
    "increment",
)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    result = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "bench", "--scale", "0.02", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return out, result


def test_every_stage_has_a_non_negative_time(bench):
    out, _ = bench
    report = json.loads((out / "bench-scale0.02.json").read_text())
    for stage in STAGES:
        seconds = report["stages"][stage]["seconds"]
        assert isinstance(seconds, (int, float)) and seconds >= 0, stage
    pipeline_parts = ("startup", "extract", "quality", "dbt", "publish", "other")
    total = sum(report["stages"][s]["seconds"] for s in pipeline_parts)
    assert total == pytest.approx(report["stages"]["pipeline"]["seconds"], abs=0.05)
    assert report["peak_rss_mib"] > 0
    assert report["ratios"]["end_to_end_to_floor"] > 0
    assert {s["stage"] for s in report["steps"]} >= {"extract", "quality", "dbt", "publish"}


def test_the_dbt_stage_is_split_into_dbt_processes_and_the_work_around_them(bench):
    out, _ = bench
    report = json.loads((out / "bench-scale0.02.json").read_text())
    dbt_steps = [s for s in report["steps"] if s["stage"] == "dbt"]
    # The build, the history snapshot and the tests of the Python-written tables: each
    # logged how long dbt ran (the last in the step's own process), inside its step.
    assert len(dbt_steps) == 3
    for step in dbt_steps:
        assert 0 < step["dbt_process_seconds"] < step["seconds"], step
    for split in (report["dbt"], report["increment"]["dbt"]):
        assert split["steps"] == 3
        assert split["dbt_process_seconds"] + split["around_dbt_seconds"] == pytest.approx(
            split["step_seconds"], abs=0.01
        )
        assert split["around_dbt_seconds"] > 0
    assert "the work around them (dagster-dbt, Dagster)" in (out / "bench-scale0.02.md").read_text()


def test_the_daily_increment_delivers_one_day_and_runs_again(bench):
    out, _ = bench
    report = json.loads((out / "bench-scale0.02.json").read_text())
    increment = report["increment"]
    # One day of the daily entities: a small share of what was delivered.
    assert increment["delivery_files"] > 0
    assert 0 < increment["rows"] < 0.01 * report["data"]["delivered_rows"]
    assert report["ratios"]["increment_to_pipeline"] > 0
    assert {"startup", "extract", "quality", "dbt", "publish", "other"} == set(increment["stages"])
    # The floor reads every day, so its agreement (below) is with the incremented warehouse.
    assert "daily increment" in (out / "bench-scale0.02.md").read_text()


def test_the_floor_has_every_row_of_kpi_values_and_agrees_on_each(bench):
    out, _ = bench
    report = json.loads((out / "bench-scale0.02.json").read_text())
    floor = report["floor"]
    assert floor["kpis"] == 16
    assert set(floor["periods"]) == {"day", "week", "month", "quarter", "year"}
    # The whole company and the dimension values: more slices than KPIs.
    assert floor["slices"] > 16
    agreement = floor["agreement"]
    assert agreement["pipeline_rows"] > 0
    assert floor["rows"] == agreement["floor_rows"] == agreement["pipeline_rows"]
    assert agreement["differences"] == [], agreement["differences"][:5]
    assert agreement["differences_total"] == 0
    assert agreement["agree"] == agreement["compared"] == agreement["pipeline_rows"]


def test_the_run_is_recorded_with_its_machine_and_command(bench):
    out, _ = bench
    report = json.loads((out / "bench-scale0.02.json").read_text())
    assert report["command"].startswith("kpi-warehouse bench --scale 0.02")
    assert report["machine"]["cores"] >= 1 and report["machine"]["memory_gib"] > 0
    assert report["commit"] and report["date"]
    assert {"python", "duckdb", "dbt-core", "dagster"} <= report["versions"].keys()
    assert {t["target"] for t in report["targets"]} and all(
        t["met"] in (True, False, None) for t in report["targets"]
    )


def test_markdown_is_written_and_printed(bench):
    out, result = bench
    markdown = (out / "bench-scale0.02.md").read_text()
    assert "| stage | wall s | share of end to end | peak RSS MiB |" in markdown
    assert "floor agreement:" in markdown
    assert markdown.strip() in result.stdout
    # Without --keep, only the results stay behind.
    assert not (out / "work-scale0.02").exists()
