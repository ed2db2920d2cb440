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
from typing import Any, ClassVar

import great_expectations as gx
from great_expectations.constants import MAX_RESULT_RECORDS
from great_expectations.expectations import UnexpectedRowsExpectation
from great_expectations.render import LegacyDiagnosticRendererType
from great_expectations.render.components import RenderedTableContent
from great_expectations.render.renderer.renderer import renderer

from expectations.config import QualityConfig
from expectations.entity_rules import entity_rules
from expectations.kpi_rules import kpi_rules
from expectations.rules import KPI_VALUES_SUITE, MARKS_DAYS, MARKS_KPI_PERIODS, Rule, TimeFrame

GX_SEVERITY = {"error": "critical", "warn": "warning"}
# Unexpected rows shown on a Data Docs page; the stored result keeps GX's larger sample.
SAMPLE_ROWS = 20
# What one unexpected row of a rule stands for, and its key columns, by the rule's marks.
UNITS = {
    MARKS_DAYS: ("day", "days", ("day",)),
    MARKS_KPI_PERIODS: ("KPI period", "KPI periods", ("kpi_id", "grain", "period_start")),
}


def _unexpected_rows(result) -> list[dict[str, Any]]:
    details = ((result.result if result else None) or {}).get("details") or {}
    return list(details.get("unexpected_rows") or [])


def _unit(result) -> tuple[str, str, tuple[str, ...]]:
    config = result.expectation_config if result else None
    marks = ((config.meta if config else None) or {}).get("marks")
    if marks in UNITS:
        return UNITS[marks]
    # Results stored before the unit was recorded: the columns tell.
    columns = set().union(*(row.keys() for row in _unexpected_rows(result)))
    for singular, plural, keys in UNITS.values():
        if set(keys) <= columns:
            return singular, plural, keys
    return "row", "rows", ()


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

    @classmethod
    @renderer(renderer_type=LegacyDiagnosticRendererType.OBSERVED_VALUE)
    def _diagnostic_observed_value_renderer(
        cls, configuration=None, result=None, runtime_configuration=None, **kwargs
    ) -> str:
        """What the count counts: "14 days with unexpected records (123 records)".

        GX's own "14" reads as records; the rule's rows are days or KPI periods.
        """
        count = ((result.result if result else None) or {}).get("observed_value")
        if not isinstance(count, int):
            return "--"
        singular, plural, _ = _unit(result)
        unit = singular if count == 1 else plural
        if count == 0:
            return f"no {plural} with unexpected records"
        rows = _unexpected_rows(result)
        # GX fetches at most this many rows of the query: there may be more.
        capped = count >= MAX_RESULT_RECORDS
        text = f"{'at least ' if capped else ''}{count:,} {unit} with unexpected records"
        records = [row["records"] for row in rows if isinstance(row.get("records"), int)]
        if records and len(records) == len(rows):
            total = sum(records)
            text += f" ({'at least ' if capped else ''}{total:,} record{'' if total == 1 else 's'})"
        return text

    @classmethod
    @renderer(renderer_type=LegacyDiagnosticRendererType.UNEXPECTED_TABLE)
    def _diagnostic_unexpected_table_renderer(
        cls, configuration=None, result=None, runtime_configuration=None, **kwargs
    ) -> list[RenderedTableContent] | None:
        """The first unexpected rows, with their keys, under the rule on its page."""
        rows = _unexpected_rows(result)
        if not rows:
            return None
        _, plural, keys = _unit(result)
        rest = sorted(set().union(*(row.keys() for row in rows)) - set(keys))
        lead = ("records", "example")
        ordered = sorted(rest, key=lambda c: (lead.index(c) if c in lead else len(lead), c))
        columns = [*(k for k in keys if any(k in row for row in rows)), *ordered]
        # Keys first, in their own order, so the sample reads like the marks.
        sample = sorted(rows, key=lambda r: tuple(str(r.get(k)) for k in columns))
        shown = sample[:SAMPLE_ROWS]
        count = ((result.result or {}).get("observed_value")) or len(rows)
        more = "at least " if count >= MAX_RESULT_RECORDS else ""
        return [
            RenderedTableContent(
                content_block_type="table",
                header=f"The first {len(shown)} of {more}{count:,} unexpected {plural}",
                header_row=columns,
                table=[
                    ["" if row.get(c) is None else str(row.get(c)) for c in columns]
                    for row in shown
                ],
                styling={"body": {"classes": ["table-bordered", "table-sm", "mt-3"]}},
            )
        ]


def expectation_for(rule: Rule) -> UnexpectedRowsExpectation:
    return UnexpectedRowsQueriedOnce(
        unexpected_rows_query=rule.sql,
        description=f"{rule.name} ({rule.severity}): {rule.description}",
        severity=GX_SEVERITY[rule.severity],
        meta={
            "check_name": rule.name,
            "severity": rule.severity,
            "rule": rule.kind,
            "marks": rule.marks,
        },
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
