"""The Great Expectations suites, built from the rules: one per landing entity, one for
the KPI outputs.

A rule is an ``UnexpectedRowsExpectation`` (queried once, see below): its SQL runs
inside DuckDB and the expectation fails when the query returns rows. The expectation
carries the rule's check name (``meta.check_name``), so a validation result maps back
onto the Dagster check, and the rule's severity as GX's own (critical for error,
warning for warn), so Data Docs show the same severities as Dagster.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import great_expectations as gx
from great_expectations.expectations import UnexpectedRowsExpectation

from expectations.config import QualityConfig
from expectations.rules import KPI_VALUES_SUITE, Rule, TimeFrame, entity_rules, kpi_rules

GX_SEVERITY = {"error": "critical", "warn": "warning"}


def suite_name(suite: str) -> str:
    """The GX suite of a landing entity (``raw.sales.orders``) or of the KPI outputs."""
    return suite if suite == KPI_VALUES_SUITE else f"raw.{suite}"


class UnexpectedRowsQueriedOnce(UnexpectedRowsExpectation):
    """``UnexpectedRowsExpectation`` that runs its query once instead of twice.

    The stock expectation computes two metrics from the query, a sample of the rows and
    their count, and so runs it twice: half of the validation's time. The rules' queries
    return one row per day or KPI period, so the rows already say whether there are
    any. The count shown here is that of GX's sample; the exact one comes from the
    marks (``runner.collect_marks``), which fetch every row of a failed rule.
    """

    metric_dependencies: ClassVar[tuple[str, ...]] = ("unexpected_rows_query.table",)

    def _validate(self, metrics: dict, runtime_configuration=None, execution_engine=None):
        rows = metrics["unexpected_rows_query.table"]
        return super()._validate(
            {**metrics, "unexpected_rows_query.row_count": len(rows)},
            runtime_configuration,
            execution_engine,
        )


def expectation_for(rule: Rule) -> UnexpectedRowsExpectation:
    return UnexpectedRowsQueriedOnce(
        unexpected_rows_query=rule.sql,
        description=f"{rule.name} ({rule.severity}): {rule.description}",
        severity=GX_SEVERITY[rule.severity],
        meta={"check_name": rule.name, "severity": rule.severity, "rule": rule.kind},
    )


def build_suites(rules: Iterable[Rule]) -> dict[str, gx.ExpectationSuite]:
    """One suite per validated table, in the order the rules come."""
    grouped: dict[str, list[UnexpectedRowsExpectation]] = {}
    for rule in rules:
        grouped.setdefault(suite_name(rule.suite), []).append(expectation_for(rule))
    return {
        name: gx.ExpectationSuite(name=name, expectations=expectations)
        for name, expectations in grouped.items()
    }


def entity_suites(config: QualityConfig, tf: TimeFrame) -> dict[str, gx.ExpectationSuite]:
    return build_suites(entity_rules(config, tf))


def kpi_suite(config: QualityConfig) -> gx.ExpectationSuite:
    return build_suites(kpi_rules(config))[KPI_VALUES_SUITE]
