"""Run the suites against the warehouse file, keep the results, build the Data Docs.

One call validates a set of rules with a Great Expectations checkpoint: every query
runs inside DuckDB (``gx_duckdb.BufferedDuckDBDatasource``), GX stores the validation
results of the run under ``<gx_dir>/validations/`` and rebuilds the Data Docs site in
``<gx_dir>/data_docs/`` (``index.html``). The GX context is ephemeral: its suites come
from code every run, and only the results and the docs land on disk.

The DuckDB file allows one writer per file, so the GX engine is disposed before
``validate`` returns; what happens next (the affected days, the results table) uses the
caller's own connection.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from urllib.parse import unquote, urlparse

import duckdb

from expectations.data_docs import make_offline
from expectations.kept_counts import CountRun, refresh_counts
from expectations.rules import MARKS_DAYS, Rule

# Great Expectations is imported where a validation runs, not here: importing it takes
# seconds, and this module is loaded with the Dagster definitions (the UI's code server,
# every schedule and sensor evaluation) that never validate.

log = logging.getLogger(__name__)

DATASOURCE = "warehouse"
SITE = "local_site"
# Validation results (and their Data Docs pages) of this many pipeline runs are kept.
KEEP_RUNS = 10
# The docs index loads every result it lists: it lists the latest few runs' results
# (18 suites a run), which keeps building it well under a second.
INDEX_LIMIT = 60


@dataclass
class RuleOutcome:
    rule: Rule
    passed: bool
    unexpected: int | None = None  # GX's observed value: unexpected rows
    error: str | None = None  # GX could not evaluate the rule
    docs_page: str | None = None  # the run's validation page of the rule's suite
    marks: list[tuple] = field(default_factory=list)  # every unexpected row's key
    records: int = 0
    example: str | None = None

    @property
    def sentence(self) -> str:
        """What went wrong, in words (empty when the rule passed)."""
        if self.passed:
            return ""
        if self.error:
            return f"{self.rule.suite} {self.rule.name} could not be evaluated: {self.error}"
        count = self.unexpected or len(self.marks)
        plural = "" if count == 1 else "s"
        return self.rule.summary.format(
            days=f"{count:,} day{plural}",
            periods=f"{count:,} KPI period{plural}",
            records=f"{self.records:,}",
            example=self.example or "n/a",
        )


@dataclass
class ValidationRun:
    outcomes: list[RuleOutcome]
    docs_index: Path
    seconds: float
    counts: list[CountRun] = field(default_factory=list)  # the kept counts brought up to date

    def by_name(self) -> dict[tuple[str, str], RuleOutcome]:
        return {(o.rule.suite, o.rule.name): o for o in self.outcomes}


def _filesystem(gx_dir: Path, base: str) -> dict:
    return {
        "class_name": "TupleFilesystemStoreBackend",
        "root_directory": str(gx_dir),
        "base_directory": base,
    }


def build_context(gx_dir: Path):
    """An ephemeral GX context whose results and Data Docs are files under ``gx_dir``."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import DataContextConfig, ProgressBarsConfig

    gx_dir = Path(gx_dir)
    gx_dir.mkdir(parents=True, exist_ok=True)
    in_memory = {"class_name": "InMemoryStoreBackend"}
    config = DataContextConfig(
        stores={
            "expectations_store": {
                "class_name": "ExpectationsStore",
                "store_backend": _filesystem(gx_dir, "expectations"),
            },
            "validation_results_store": {
                "class_name": "ValidationResultsStore",
                "store_backend": _filesystem(gx_dir, "validations"),
            },
            "validation_definition_store": {
                "class_name": "ValidationDefinitionStore",
                "store_backend": in_memory,
            },
            "checkpoint_store": {"class_name": "CheckpointStore", "store_backend": in_memory},
        },
        expectations_store_name="expectations_store",
        validation_results_store_name="validation_results_store",
        checkpoint_store_name="checkpoint_store",
        data_docs_sites={
            SITE: {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": _filesystem(gx_dir, "data_docs"),
                "site_index_builder": {
                    "class_name": "DefaultSiteIndexBuilder",
                    "validation_results_limit": INDEX_LIMIT,
                },
            }
        },
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(project_config=config, mode="ephemeral")


def docs_index(gx_dir: Path) -> Path:
    return Path(gx_dir) / "data_docs" / "index.html"


def _url_to_path(url: str | None) -> str | None:
    if not url:
        return None
    parsed = urlparse(url)
    return unquote(parsed.path) if parsed.scheme == "file" else url


def _prune(context, keep_runs: int) -> None:
    """Forget the validation results of all but the latest ``keep_runs`` runs.

    The docs index lists what the store holds and drops the pages of forgotten results,
    so the site (and the time to build its index) stays bounded.
    """
    store = context.validation_results_store
    keys = store.list_keys()
    latest: dict[str, str] = {}
    for key in keys:
        run = key.run_id
        stamp = run.run_time.isoformat() if run.run_time else ""
        latest[run.run_name] = max(latest.get(run.run_name, ""), stamp)
    kept = set(sorted(latest, key=latest.get, reverse=True)[:keep_runs])
    for key in keys:
        if key.run_id.run_name not in kept:
            try:
                store.remove_key(key)
            except Exception as exc:  # another run pruned it first: nothing to do
                log.debug("pruning %s: %s", key, exc)


def validate(
    warehouse: Path | str,
    rules: Sequence[Rule],
    gx_dir: Path | str,
    run_name: str,
    checkpoint_name: str = "kpi_warehouse",
    keep_runs: int = KEEP_RUNS,
    memory_limit: str | None = None,
    full_refresh: bool = False,
) -> ValidationRun:
    """Validate ``rules`` against the DuckDB file ``warehouse`` with one GX checkpoint.

    The rules that keep counts per month or per delivery file read them, so they are
    brought up to date first (``kept_counts.refresh_counts``; all of them on
    ``full_refresh``).
    """
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    from expectations import gx_duckdb  # noqa: F401  (registers the datasource type)
    from expectations.suites import build_suites, suite_name

    started = time.monotonic()
    # DuckDB spills what does not fit to disk: the limit bounds the memory of the
    # validation, whatever the size of the tables.
    config = {"memory_limit": memory_limit} if memory_limit else {}
    counts = []
    if any(rule.counts is not None for rule in rules):
        with duckdb.connect(str(warehouse), config=config) as con:
            counts = refresh_counts(con, rules, full_refresh)
    gx_dir = Path(gx_dir)
    context = build_context(gx_dir)
    datasource = context.data_sources.add_duckdb_buffered(
        name=DATASOURCE,
        connection_string=f"duckdb:///{Path(warehouse).resolve()}",
        kwargs={"connect_args": {"config": config}},
    )
    outcomes: list[RuleOutcome] = []
    try:
        tables = {suite_name(r.suite): r.table for r in rules}
        definitions = []
        for name, suite in build_suites(rules).items():
            asset = datasource.add_query_asset(name=name, query=f"select * from {tables[name]}")
            batch = asset.add_batch_definition_whole_table("whole table")
            suite = context.suites.add_or_update(suite)
            definitions.append(
                context.validation_definitions.add_or_update(
                    gx.ValidationDefinition(name=name, data=batch, suite=suite)
                )
            )
        checkpoint = context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=checkpoint_name,
                validation_definitions=definitions,
                # The unexpected rows are one per day or KPI period: keep a sample of
                # them in the stored results and the docs.
                result_format={"result_format": "COMPLETE"},
            )
        )
        result = checkpoint.run(run_id=RunIdentifier(run_name=run_name))
        _prune(context, keep_runs)
        # One incremental build for the whole checkpoint: GX's per-validation docs
        # action renders the site once per suite, which costs seconds each. The results
        # are stored already; a site that cannot be rendered must not stop the gates.
        try:
            context.build_data_docs(
                site_names=[SITE],
                resource_identifiers=[
                    *result.run_results,
                    *(ExpectationSuiteIdentifier(name=d.suite.name) for d in definitions),
                ],
            )
            make_offline(gx_dir / "data_docs")
        except Exception as exc:
            log.warning("building the Data Docs in %s failed: %s", gx_dir, exc)
        by_check = {(suite_name(r.suite), r.name): r for r in rules}
        for identifier, suite_result in result.run_results.items():
            urls = context.get_docs_sites_urls(resource_identifier=identifier, site_name=SITE)
            page = _url_to_path(urls[0]["site_url"]) if urls else None
            for er in suite_result.results:
                check = (er.expectation_config.meta or {}).get("check_name")
                rule = by_check.get((suite_result.suite_name, check))
                if rule is None:
                    continue
                error = None
                if er.exception_info and er.exception_info.get("raised_exception"):
                    error = (er.exception_info.get("exception_message") or "").splitlines()[0]
                outcomes.append(
                    RuleOutcome(
                        rule=rule,
                        passed=bool(er.success) and error is None,
                        unexpected=(er.result or {}).get("observed_value"),
                        error=error,
                        docs_page=page,
                    )
                )
    finally:
        datasource.dispose()
    seen = {(o.rule.suite, o.rule.name) for o in outcomes}
    # A rule GX did not report on (its suite failed as a whole) counts as failed.
    outcomes += [
        RuleOutcome(rule=r, passed=False, error="no validation result")
        for r in rules
        if (r.suite, r.name) not in seen
    ]
    return ValidationRun(outcomes, docs_index(gx_dir), time.monotonic() - started, counts)


def collect_marks(
    con: duckdb.DuckDBPyConnection, outcomes: Iterable[RuleOutcome], as_of: date | None = None
) -> None:
    """Fetch every unexpected row of each failed rule: the days or KPI periods it marks.

    GX keeps a bounded sample of them; the marks need all, which the rule's own query
    (aggregated per day or per KPI period) returns from DuckDB.
    """
    for outcome in outcomes:
        if outcome.passed:
            continue
        try:
            rows = con.execute(outcome.rule.query()).fetchall()
        except duckdb.Error as exc:
            log.warning("rule %s on %s: %s", outcome.rule.name, outcome.rule.suite, exc)
            # A rule that cannot say which periods it concerns marks the latest ones.
            rows = [(as_of, 0, None)] if as_of and outcome.rule.marks == MARKS_DAYS else []
        # Every unexpected row, where GX's result holds a bounded sample.
        outcome.unexpected = len(rows)
        if outcome.rule.marks == MARKS_DAYS:
            outcome.marks = [(r[0],) for r in rows]
            outcome.records = sum(r[1] or 0 for r in rows)
            examples = [r[2] for r in rows if r[2] is not None]
        else:
            outcome.marks = [(r[0], r[1], r[2]) for r in rows]
            outcome.records = sum(r[3] or 0 for r in rows)
            examples = [r[4] for r in rows if r[4] is not None]
        outcome.example = min(examples) if examples else None


RESULTS_DDL = (
    "create schema if not exists quality",
    """
    create table if not exists quality.check_results (
        run_id varchar not null,
        checked_at timestamp not null,
        suite varchar not null,
        check_name varchar not null,
        severity varchar not null,
        passed boolean not null,
        unexpected bigint,
        records bigint,
        example varchar,
        summary varchar,
        description varchar,
        data_docs varchar
    )
    """,
    """
    create table if not exists quality.check_marks (
        suite varchar not null,
        check_name varchar not null,
        day date,
        kpi_id varchar,
        grain varchar,
        period_start date
    )
    """,
)


def ensure_results_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the results tables; marks of an older layout (one copy per run) migrate."""
    con.execute(RESULTS_DDL[0])
    columns = {
        name
        for (name,) in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'quality' and table_name = 'check_marks'"
        ).fetchall()
    }
    if "run_id" in columns:
        # Only the latest run's marks of each check were kept: they are the current ones.
        con.execute(
            "create or replace table quality.check_marks as select distinct suite, "
            "check_name, day, kpi_id, grain, period_start from quality.check_marks"
        )
    for statement in RESULTS_DDL[1:]:
        con.execute(statement)


def store_results(
    con: duckdb.DuckDBPyConnection, run_id: str, outcomes: Sequence[RuleOutcome]
) -> None:
    """Append the outcomes to ``quality.check_results``; replace their ``check_marks``.

    Results are a log: one row per check and run, only ever appended. Marks are state:
    the days or KPI periods that each check's latest result marks, which is all
    ``kpi.kpi_quality`` reads. They carry no run, so a run that finds what the run
    before found leaves them as they were.
    """
    # Not with the module: the definitions import it, and a run's start-up need not
    # pay for pyarrow (GX is imported late for the same reason, in validate).
    import pyarrow as pa

    ensure_results_tables(con)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    results = pa.table(
        {
            "run_id": [run_id] * len(outcomes),
            "checked_at": pa.array([now] * len(outcomes), pa.timestamp("us")),
            "suite": [o.rule.suite for o in outcomes],
            "check_name": [o.rule.name for o in outcomes],
            "severity": [o.rule.severity for o in outcomes],
            "passed": [o.passed for o in outcomes],
            "unexpected": pa.array(
                [o.unexpected if isinstance(o.unexpected, int) else None for o in outcomes],
                pa.int64(),
            ),
            "records": pa.array([o.records for o in outcomes], pa.int64()),
            "example": pa.array([o.example for o in outcomes], pa.string()),
            "summary": pa.array([o.sentence or None for o in outcomes], pa.string()),
            "description": [o.rule.description for o in outcomes],
            "data_docs": pa.array([o.docs_page for o in outcomes], pa.string()),
        }
    )
    marks = {k: [] for k in ("suite", "check_name", "day", "kpi_id", "grain", "period_start")}
    for o in outcomes:
        for mark in o.marks:
            marks["suite"].append(o.rule.suite)
            marks["check_name"].append(o.rule.name)
            day, kpi = (mark[0], (None, None, None)) if len(mark) == 1 else (None, mark)
            marks["day"].append(day)
            marks["kpi_id"].append(kpi[0])
            marks["grain"].append(kpi[1])
            marks["period_start"].append(kpi[2])
    mark_table = pa.table(
        {
            "suite": pa.array(marks["suite"], pa.string()),
            "check_name": pa.array(marks["check_name"], pa.string()),
            "day": pa.array(marks["day"], pa.date32()),
            "kpi_id": pa.array(marks["kpi_id"], pa.string()),
            "grain": pa.array(marks["grain"], pa.string()),
            "period_start": pa.array(marks["period_start"], pa.date32()),
        }
    )
    checks = pa.table(
        {
            "suite": pa.array([o.rule.suite for o in outcomes], pa.string()),
            "check_name": pa.array([o.rule.name for o in outcomes], pa.string()),
        }
    )
    con.register("_check_results", results)
    con.register("_check_marks", mark_table)
    con.register("_checks", checks)
    try:
        con.execute("begin transaction")
        con.execute("insert into quality.check_results by name select * from _check_results")
        # Only the marks that changed are deleted or inserted: the rest stay untouched.
        con.execute(
            """
            delete from quality.check_marks as m
            where exists (
                select 1 from _checks as c
                where c.suite = m.suite and c.check_name = m.check_name
            )
            and not exists (
                select 1 from _check_marks as n
                where n.suite = m.suite and n.check_name = m.check_name
                  and n.day is not distinct from m.day
                  and n.kpi_id is not distinct from m.kpi_id
                  and n.grain is not distinct from m.grain
                  and n.period_start is not distinct from m.period_start
            )
            """
        )
        con.execute(
            """
            insert into quality.check_marks by name
            select distinct * from _check_marks as n
            where not exists (
                select 1 from quality.check_marks as m
                where n.suite = m.suite and n.check_name = m.check_name
                  and n.day is not distinct from m.day
                  and n.kpi_id is not distinct from m.kpi_id
                  and n.grain is not distinct from m.grain
                  and n.period_start is not distinct from m.period_start
            )
            """
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.unregister("_check_results")
        con.unregister("_check_marks")
        con.unregister("_checks")
