"""The data-quality rules: what row validity cannot see, written as SQL that DuckDB runs.

Every rule is one Great Expectations ``UnexpectedRowsExpectation`` (see ``suites.py``):
its query returns the *unexpected rows* and the rule passes when there are none. The
queries aggregate inside DuckDB so that what comes back is bounded by the calendar,
never by the size of a table:

- an entity rule returns one row per affected **day** (``day``, ``records``,
  ``example``): the dates of the offending records, i.e. their anchor date (the date
  that places them in a KPI period, e.g. ``orders.ordered_at``) and the later event
  dates KPIs count them at (``fulfilled_at``, ``resolved_at``, …). Records without any
  date (a product, a service) stand for the as-of date: the latest periods.
- a KPI-output rule returns one row per affected **KPI period** (``kpi_id``, ``grain``,
  ``period_start``, ``records``, ``example``).

Those rows are what marks the numbers in ``kpi.kpi_quality``. Thresholds are shares
judged per calendar month of the anchor dates (or per delivery), so a bad month is
caught even in a long history and the months around it stay unmarked.

This module holds what every rule shares: the ``Rule`` and ``TimeFrame`` types and
the names of suites, marks and blocking checks. The rules are built elsewhere:

- ``entity_rules.py``: the rules of the landing entities (``entity_rules``);
- ``kpi_rules.py``: the rules of the KPI outputs (``kpi_rules``);
- ``entity_dates.py``: how a landing record is dated, in SQL, and the run's
  ``time_frame``;
- ``rule_sql.py``: the SQL literals and the ``with`` clause every rule starts with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

BATCH = "{batch}"  # the placeholder GX replaces with the batch's table
KPI_VALUES_SUITE = "kpi.kpi_values"
KPI_VALUES_TABLE = "kpi.kpi_values"
MARKS_DAYS = "days"
MARKS_KPI_PERIODS = "kpi_periods"
# The check name of a rule's blocking variant: `<rule><suffix>`.
BLOCKING_SUFFIX = "_blocking"


@dataclass(frozen=True)
class TimeFrame:
    """The run's as-of date and the first anchor date: the span rules judge."""

    as_of: date
    first_day: date


@dataclass(frozen=True)
class Rule:
    suite: str  # "sales.orders" or "kpi.kpi_values"
    table: str  # what the suite validates, e.g. "raw_sales.orders"
    name: str  # the check name in Dagster and the rule's id in the suite
    kind: str  # its section in quality.yml
    severity: str  # "error" (blocks publishing) or "warn" (marks the numbers)
    description: str  # what is expected, one sentence
    summary: str  # a failure; {records}, {example} and {days} or {periods} are filled in
    sql: str  # the unexpected rows; {batch} is the validated table
    marks: str = MARKS_DAYS
    reads: tuple[str, ...] = ()  # tables besides the batch that the query reads
    # A rule judged per month or per delivery file keeps its counts of each between
    # runs: a kept_counts.KeptCounts (not imported: that module builds on this one),
    # whose counts the query reads.
    counts: Any = None

    @property
    def blocking(self) -> bool:
        return self.severity == "error"

    def query(self) -> str:
        """The rule's query on the warehouse itself, outside GX."""
        return self.sql.replace(BATCH, f"(select * from {self.table})")
