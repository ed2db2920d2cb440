"""The dbt resource skips dagster-dbt's `dbt --version` process and its in-process adapter.

Both are private members of dagster-dbt; these tests fail if an upgrade stops calling
them, or if the shortcut's version differs from what the dbt executable reports.
"""

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
from dagster_dbt import DbtCliResource

from orchestration.kpis.project import WarehouseDbtCli, dbt_project, timed_dbt_process


def test_dagster_dbt_still_asks_the_members_the_resource_overrides():
    cli = inspect.getsource(DbtCliResource.cli)
    assert "self._cli_version" in cli
    assert "self._initialize_dbt_core_adapter(" in cli


@pytest.mark.slow
def test_the_version_is_the_one_the_dbt_executable_reports():
    dbt = Path(sys.executable).with_name("dbt")
    printed = subprocess.run([dbt, "--version"], capture_output=True, text=True, check=True)
    version = WarehouseDbtCli(project_dir=dbt_project)._cli_version
    assert re.search(rf"installed:\s+{re.escape(str(version))}\n", printed.stdout), printed.stdout


@pytest.mark.slow
def test_a_dbt_call_starts_no_version_process_and_builds_no_adapter(monkeypatch):
    started = []
    real_check_output = subprocess.check_output

    def check_output(args, *rest, **kwargs):
        started.append(list(args))
        return real_check_output(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "check_output", check_output)
    import dagster_dbt.core.resource as resource_module

    monkeypatch.setattr(resource_module, "check_output", check_output)
    resource = WarehouseDbtCli(project_dir=dbt_project)
    invocation = resource.cli(["ls", "--select", "kpi_values", "--output", "name"])
    messages = [event.raw_event["info"]["msg"] for event in invocation.stream_raw_events()]
    assert invocation.is_successful()
    assert "kpi_values" in messages
    assert invocation.adapter is None
    assert not any("--version" in args for args in started), started


def test_the_dbt_process_time_is_logged_once_its_events_end():
    logged = []
    events = list(timed_dbt_process(iter([1, 2, 3]), logged.append, "build"))
    assert events == [1, 2, 3]
    assert len(logged) == 1
    assert logged[0].startswith("The dbt process ran ") and logged[0].endswith("s (dbt build).")
