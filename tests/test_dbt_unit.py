"""dbt unit tests: every KPI formula against hand-computed rows (models/**/_unit_tests__*.yml)."""

from __future__ import annotations

from tests.conftest import dbt


def test_dbt_unit_tests_pass(empty_warehouse):
    result = dbt(["test", "--select", "test_type:unit"], empty_warehouse, check=False)
    summary = [line for line in result.stdout.splitlines() if "Done. PASS=" in line]
    assert result.returncode == 0, result.stdout[-8000:]
    # A unit test run that selects nothing would pass vacuously.
    assert summary and "PASS=0 " not in summary[-1], result.stdout[-2000:]
