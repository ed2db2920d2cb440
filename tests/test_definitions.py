"""The Dagster definitions as the UI shows them: a tidy asset graph, schedules, sensors.

Loads the very ``defs`` that ``dagster dev`` and ``kpi-warehouse ui`` load.
"""

from __future__ import annotations

from dataclasses import replace

import dagster as dg
import pytest

from orchestration.definitions import PIPELINE_JOB, build_definitions, defs
from orchestration.keys import KPI_ALERTS_KEY, PUBLISHED_KPI_KEY, REPORTS_GROUP, SCORECARD_JOB
from orchestration.operations.assets import NOTIFICATIONS_KEY
from orchestration.operations.config import WAREHOUSE_TAG
from orchestration.operations.schedules import PIPELINE_JOB as SCHEDULED_PIPELINE_JOB
from orchestration.operations.schedules import PIPELINE_SCHEDULE
from orchestration.operations.sensors import DELIVERY_SENSOR, FAILURE_SENSOR
from orchestration.settings import Settings


@pytest.fixture(scope="module")
def graph():
    return defs.resolve_asset_graph()


def _assets(graph):
    keys = sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string())
    return [(key, graph.get(key)) for key in keys if graph.get(key).is_materializable]


def test_every_asset_has_a_group_an_owner_a_description_and_a_kind(graph):
    problems = []
    for key, node in _assets(graph):
        name = key.to_user_string()
        if not node.group_name or node.group_name == "default":
            problems.append(f"{name}: no group")
        if not node.owners:
            problems.append(f"{name}: no owner")
        description = (node.description or "").strip()
        # dagster-dbt's stand-in for an undocumented model: "dbt model <name>" and its SQL.
        if not description or description.startswith(("dbt model ", "dbt seed ")):
            problems.append(f"{name}: no description")
        if not node.kinds:
            problems.append(f"{name}: no kind")
    assert not problems, "\n".join(problems)


def test_kinds_say_what_builds_each_layer(graph):
    nodes = dict(_assets(graph))
    for key, node in nodes.items():
        if key.path[0] in ("staging", "intermediate", "marts"):
            assert {"dbt", "duckdb"} <= node.kinds, key
        if key.path[0] == "raw":
            assert "duckdb" in node.kinds, key
    assert "dbt" in nodes[dg.AssetKey(["kpi", "kpi_values"])].kinds
    assert {"duckdb", "parquet"} <= nodes[PUBLISHED_KPI_KEY].kinds
    reports = [n for n in nodes.values() if n.group_name == REPORTS_GROUP]
    if reports:
        assert any("pdf" in n.kinds for n in reports)


def test_groups_follow_layers_and_source_systems(graph):
    nodes = dict(_assets(graph))
    raw_groups = {n.group_name for k, n in nodes.items() if k.path[0] == "raw"}
    # The landing systems, and the goal files (raw_goals).
    assert raw_groups == {"crm", "sales", "ops", "goals"}
    for layer in ("staging", "intermediate", "marts"):
        assert {n.group_name for k, n in nodes.items() if k.path[0] == layer} == {layer}
    assert nodes[KPI_ALERTS_KEY].group_name == "kpi"


def test_steps_that_can_fail_transiently_are_retried():
    for key in defs.resolve_asset_graph().get_all_asset_keys():
        if key.path[0] == "raw" or key == dg.AssetKey(["kpi", "kpi_values"]):
            policy = defs.get_assets_def(key).op.retry_policy
            assert policy is not None and policy.max_retries >= 1, key


def test_alerts_are_published_with_the_numbers_and_sent_after_them(graph):
    assert KPI_ALERTS_KEY in graph.get(PUBLISHED_KPI_KEY).parent_keys
    assert {dg.AssetKey(["kpi", "kpi_values"]), dg.AssetKey(["kpi", "kpi_definitions"])} <= (
        graph.get(KPI_ALERTS_KEY).parent_keys
    )
    assert PUBLISHED_KPI_KEY in graph.get(NOTIFICATIONS_KEY).parent_keys


def test_the_pipeline_job_writes_alone_and_covers_all_but_the_scorecards():
    job = defs.resolve_job_def(PIPELINE_JOB)
    assert job.tags.get(WAREHOUSE_TAG) == "writes"
    selected = job.asset_layer.executable_asset_keys
    assert {KPI_ALERTS_KEY, PUBLISHED_KPI_KEY, NOTIFICATIONS_KEY} <= selected
    assert not [k for k in selected if k.path[0] == REPORTS_GROUP]
    assert SCHEDULED_PIPELINE_JOB == PIPELINE_JOB


def test_schedules_and_sensors_exist():
    schedules = {s.name: s for s in defs.schedules}
    daily = schedules[PIPELINE_SCHEDULE]
    assert daily.job_name == PIPELINE_JOB
    sensors = {s.name: s for s in defs.sensors}
    assert sensors[DELIVERY_SENSOR].job_name == PIPELINE_JOB
    assert isinstance(sensors[FAILURE_SENSOR], dg.RunStatusSensorDefinition)
    jobs = {job.name for job in defs.resolve_all_job_defs()}
    if SCORECARD_JOB in jobs:
        on_scorecard = [s for s in defs.schedules if s.job_name == SCORECARD_JOB]
        # One schedule, or every month's scorecard would go out twice.
        assert len(on_scorecard) == 1
        assert defs.resolve_job_def(SCORECARD_JOB).partitions_def is not None


def test_every_schedule_and_sensor_starts_stopped(monkeypatch):
    monkeypatch.delenv("KPI_AUTOMATION_DEFAULT_STATUS", raising=False)
    rebuilt = build_definitions(Settings.from_env())
    automations = [*rebuilt.schedules, *rebuilt.sensors]
    assert FAILURE_SENSOR in {a.name for a in automations}
    running = [a.name for a in automations if a.default_status.name != "STOPPED"]
    assert not running


def test_scorecard_partitions_are_the_months_the_pipeline_registers():
    from orchestration.keys import SCORECARD_MONTHS, SCORECARD_MONTHS_KEY

    partitions = defs.resolve_job_def(SCORECARD_JOB).partitions_def
    assert isinstance(partitions, dg.DynamicPartitionsDefinition)
    assert partitions.name == SCORECARD_MONTHS
    # Registered by every pipeline run, after publishing.
    assert (
        SCORECARD_MONTHS_KEY in defs.resolve_job_def(PIPELINE_JOB).asset_layer.executable_asset_keys
    )


def test_schedule_cron_and_time_zone_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("KPI_PIPELINE_CRON", "30 5 * * 1-5")
    monkeypatch.setenv("KPI_TIMEZONE", "Europe/Berlin")
    monkeypatch.setenv("KPI_AUTOMATION_DEFAULT_STATUS", "running")
    rebuilt = build_definitions(replace(Settings.from_env()))
    daily = {s.name: s for s in rebuilt.schedules}[PIPELINE_SCHEDULE]
    assert daily.cron_schedule == "30 5 * * 1-5"
    assert daily.execution_timezone == "Europe/Berlin"
    assert daily.default_status == dg.DefaultScheduleStatus.RUNNING

    from orchestration.operations.config import ConfigError, OperationsConfig

    monkeypatch.setenv("KPI_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ConfigError, match="KPI_TIMEZONE"):
        OperationsConfig.from_env()
    monkeypatch.setenv("KPI_TIMEZONE", "UTC")
    monkeypatch.setenv("KPI_PIPELINE_CRON", "daily at six")
    with pytest.raises(ConfigError, match="KPI_PIPELINE_CRON"):
        OperationsConfig.from_env()


def test_definitions_load_as_the_ui_loads_them():
    # The same check `dagster dev` runs before it serves the code location.
    dg.Definitions.validate_loadable(defs)


def test_a_run_builds_the_definitions_once_only_where_it_imports_them_first(monkeypatch):
    import sys

    import orchestration
    from orchestration import cli

    settings = Settings.from_env()
    # Imported already (by this module): built under another environment, so afresh.
    assert cli._pipeline_job(settings) is not defs.resolve_job_def(PIPELINE_JOB)
    # Imported by the run itself, under the settings it runs with: the module's own.
    # monkeypatch puts the module this test file imported back afterwards.
    monkeypatch.delitem(sys.modules, "orchestration.definitions")
    monkeypatch.delattr(orchestration, "definitions")
    job = cli._pipeline_job(settings)
    assert job is sys.modules["orchestration.definitions"].defs.resolve_job_def(PIPELINE_JOB)
    monkeypatch.delitem(sys.modules, "orchestration.definitions")
    other = cli._pipeline_job(replace(settings, as_of="2026-01-31"))
    assert other is not sys.modules["orchestration.definitions"].defs.resolve_job_def(PIPELINE_JOB)
