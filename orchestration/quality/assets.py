"""Data-quality gates: the Great Expectations suites in expectations/ as Dagster checks.

- ``entity_quality_checks`` validates every landing entity's suite once all extracts
  are done: one check per rule on its extract asset (``raw/<system>/<entity>``).
- ``kpi_output_quality_checks`` validates the KPI-output suite on ``kpi/kpi_values``
  after dbt.
- ``kpi_quality`` writes ``kpi.kpi_quality``, the quality state of every KPI and
  period, before the publish step copies the ``kpi`` schema.

A rule of severity ``error`` is a blocking check: when it fails, nothing downstream of
its asset runs, so the KPIs are not published and the published copy stays as it was.
A ``warn`` rule lets the run go on; the KPI periods its unexpected rows fall in are
marked ``warned``. Severities and thresholds come from ``expectations/quality.yml`` (or
``KPI_QUALITY_CONFIG``), so a change of gate is a configuration change.

Checks run at a higher priority than the other steps that are ready at the same time:
the entity checks before dbt (a failing gate fails fast), the KPI-output checks before
``kpi_quality`` (which reads their results).
"""

from collections.abc import Iterator, Sequence
from datetime import date

import dagster as dg

from expectations.config import QualityConfig
from expectations.entity_dates import time_frame
from expectations.entity_rules import entity_rules
from expectations.kept_counts import summary as counts_summary
from expectations.kpi_rules import kpi_rules
from expectations.quality_state import QUALITY_TABLE, checks_without_result, write_kpi_quality
from expectations.rules import MARKS_DAYS, Rule, TimeFrame
from expectations.runner import collect_marks, store_results, validate
from orchestration.crash_points import pause_point
from orchestration.docs_server import data_docs_url
from orchestration.keys import OWNER_DATA_ENGINEERING, dbt_model_asset_key, raw_asset_key
from orchestration.kpis.python_sources import check_declared_columns
from orchestration.resources import WarehouseResource
from orchestration.settings import Settings

KPI_VALUES_KEY = dbt_model_asset_key("kpi", "kpi_values")
KPI_QUALITY_KEY = dbt_model_asset_key("kpi", "kpi_quality")
CHECK_PRIORITY = {"dagster/priority": "10"}


def _asset_key(rule: Rule) -> dg.AssetKey:
    if rule.marks == MARKS_DAYS:
        return raw_asset_key(*rule.suite.split("."))
    return KPI_VALUES_KEY


def _table_key(table: str) -> dg.AssetKey | None:
    """The asset of a table a rule reads, where it is one (ingest.* is bookkeeping)."""
    schema, name = table.split(".")
    if schema.startswith("raw_"):
        return raw_asset_key(schema.removeprefix("raw_"), name)
    if schema in ("kpi", "marts", "staging", "intermediate"):
        return dbt_model_asset_key(schema, name)
    return None


def _spec(rule: Rule, settings: Settings) -> dg.AssetCheckSpec:
    effect = (
        "Error: a failure blocks publishing."
        if rule.blocking
        else "Warn: a failure marks the affected KPI periods in kpi.kpi_quality."
    )
    key = _asset_key(rule)
    deps = {k for k in map(_table_key, rule.reads) if k is not None and k != key}
    return dg.AssetCheckSpec(
        rule.name,
        asset=key,
        blocking=rule.blocking,
        description=(
            f"{rule.description} {effect} Results: Great Expectations Data Docs at "
            f"{data_docs_url(settings.gx_dir)} (served by `kpi-warehouse docs`)."
        ),
        additional_deps=sorted(deps, key=lambda k: k.to_user_string()),
        metadata={"severity": rule.severity, "rule": rule.kind},
    )


def _evaluate(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    settings: Settings,
    config: QualityConfig,
    rules: Sequence[Rule],
    checkpoint: str,
    as_of: date | None,
) -> Iterator[dg.AssetCheckResult]:
    selected = context.selected_asset_check_keys
    rules = [r for r in rules if dg.AssetCheckKey(_asset_key(r), r.name) in selected]
    if not rules:
        return
    run = validate(
        warehouse.path,
        rules,
        settings.gx_dir,
        context.run.run_id,
        checkpoint,
        keep_runs=config.keep_runs,
        memory_limit=config.memory_limit,
        full_refresh=warehouse.full_refresh,
    )
    if run.counts:
        context.log.info(counts_summary(run.counts))
    pause_point("quality")
    with warehouse.connection() as con:
        collect_marks(con, run.outcomes, as_of)
        store_results(con, context.run.run_id, run.outcomes)
    failed = [o for o in run.outcomes if not o.passed]
    # Links, not server paths: a browser follows no file:// link from the Dagster UI.
    index = data_docs_url(settings.gx_dir)
    context.log.info(
        f"{len(run.outcomes)} rules validated in {run.seconds:.1f} s, {len(failed)} failed; "
        f"Data Docs: {index}"
    )
    for outcome in run.outcomes:
        rule = outcome.rule
        page = data_docs_url(settings.gx_dir, outcome.docs_page)
        description = None
        if not outcome.passed:
            description = f"{outcome.sentence}; details in the Data Docs at {page}"
        marked = "marked_days" if rule.marks == MARKS_DAYS else "marked_kpi_periods"
        yield dg.AssetCheckResult(
            asset_key=_asset_key(rule),
            check_name=rule.name,
            passed=outcome.passed,
            severity=dg.AssetCheckSeverity.ERROR if rule.blocking else dg.AssetCheckSeverity.WARN,
            description=description,
            metadata={
                "severity": rule.severity,
                "unexpected_rows": outcome.unexpected if outcome.unexpected is not None else -1,
                "offending_records": outcome.records,
                marked: len(outcome.marks),
                "example": outcome.example or "",
                "data_docs": dg.MetadataValue.url(page),
                "data_docs_index": dg.MetadataValue.url(index),
                "validation_seconds": round(run.seconds, 2),
            },
        )


def build_defs(settings: Settings) -> dg.Definitions:
    config = QualityConfig.load(settings.quality_config)
    # Which rules exist does not depend on the dates; their SQL does, and is rebuilt
    # with the run's as-of date when the checks run.
    today = date.today()
    declared_entity_rules = entity_rules(config, TimeFrame(today, today))
    declared_kpi_rules = kpi_rules(config)

    @dg.multi_asset_check(
        name="entity_quality_checks",
        specs=[_spec(r, settings) for r in declared_entity_rules],
        can_subset=True,
        op_tags=CHECK_PRIORITY,
        description=(
            "Great Expectations suites of the landing entities (expectations/), validated "
            "inside DuckDB: volume, freshness, quarantined share, duplicates, orphan keys "
            "and distributions."
        ),
    )
    def entity_quality_checks(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.AssetCheckResult]:
        with warehouse.connection() as con:
            tf = time_frame(con, warehouse.as_of)
        context.log.info(f"judging the landing entities as of {tf.as_of}")
        yield from _evaluate(
            context,
            warehouse,
            settings,
            config,
            entity_rules(config, tf),
            "landing_entities",
            tf.as_of,
        )

    @dg.multi_asset_check(
        name="kpi_output_quality_checks",
        specs=[_spec(r, settings) for r in declared_kpi_rules],
        can_subset=True,
        op_tags=CHECK_PRIORITY,
        description=(
            "Great Expectations suite of the KPI outputs (kpi.kpi_values): bounds, complete "
            "calendar, values and targets present."
        ),
    )
    def kpi_output_quality_checks(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.AssetCheckResult]:
        yield from _evaluate(
            context, warehouse, settings, config, kpi_rules(config), "kpi_outputs", None
        )

    configured = [(r.suite, r.name) for r in (*declared_entity_rules, *declared_kpi_rules)]

    @dg.asset(
        key=KPI_QUALITY_KEY,
        deps=[
            KPI_VALUES_KEY,
            dbt_model_asset_key("kpi", "kpi_definitions"),
            dbt_model_asset_key("marts", "dim_calendar"),
        ],
        group_name="kpi",
        owners=[OWNER_DATA_ENGINEERING],
        kinds={"duckdb"},
        description=(
            f"{QUALITY_TABLE}: for every KPI, grain and calendar period, whether the data "
            "behind it passed its quality checks ('passed'), only warnings marked it "
            "('warned': show the number as provisional) or an error did ('failed'), with "
            "the checks and details. Published with the kpi schema."
        ),
    )
    def kpi_quality(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        with warehouse.connection() as con:
            counts = write_kpi_quality(con, configured)
            check_declared_columns(con, KPI_QUALITY_KEY.path[-1])
            unchecked = checks_without_result(con, configured)
        if unchecked:
            context.log.warning(
                f"{len(unchecked)} configured checks have never run (e.g. "
                f"{':'.join(unchecked[0])}); nothing they would mark is marked yet."
            )
        context.log.info(
            f"{QUALITY_TABLE}: {counts['passed']:,} passed, {counts['warned']:,} warned, "
            f"{counts['failed']:,} failed KPI periods"
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": sum(counts.values()),
                **{f"periods_{state}": n for state, n in counts.items()},
                "data_docs_index": dg.MetadataValue.url(data_docs_url(settings.gx_dir)),
            }
        )

    return dg.Definitions(
        asset_checks=[entity_quality_checks, kpi_output_quality_checks],
        assets=[kpi_quality],
    )
