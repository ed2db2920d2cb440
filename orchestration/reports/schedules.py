"""When the scorecard runs: its job, and the schedule that starts it after month close.

One schedule for the one job, so no month is rendered (and mailed) twice.
"""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

import dagster as dg

from orchestration.keys import MONTHLY, REPORTS_GROUP, SCORECARD_JOB
from orchestration.operations.business_days import BusinessCalendar, previous_month
from orchestration.operations.config import OperationsConfig

SCORECARD_SCHEDULE = "monthly_scorecard_after_close"


def business_day_of_month(day: date, calendar: BusinessCalendar | None = None) -> int | None:
    """1 on the month's first business day, 2 on the second, …; None on other days.

    Business days are Monday to Friday less the public holidays of the configured region
    (KPI_HOLIDAYS_COUNTRY, KPI_HOLIDAYS_SUBDIVISION; see operations/business_days.py).
    """
    return (calendar or BusinessCalendar()).business_day_of_month(day)


def scorecard_partition_key(partitions_def: dg.PartitionsDefinition | None, month: date) -> str:
    """The scorecard job's partition key for ``month`` (the first day of a month)."""
    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        # Mid-month, at noon UTC: inside the month whatever time zone the partitions use.
        inside = datetime.combine(month.replace(day=15), time(12), tzinfo=timezone.utc)
        return partitions_def.get_partition_key_for_timestamp(inside.timestamp())
    if partitions_def is not None:
        prefix = month.strftime("%Y-%m")
        for key in partitions_def.get_partition_keys():
            if key.startswith(prefix):
                return key
        raise dg.DagsterInvariantViolationError(
            f"The {SCORECARD_JOB} job has no partition for {prefix}."
        )
    return month.isoformat()


def build_scorecard_job() -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        SCORECARD_JOB,
        selection=dg.AssetSelection.groups(REPORTS_GROUP),
        partitions_def=MONTHLY,
        # Rendering is light and reads a read-only copy: one process, no start-up cost.
        executor_def=dg.in_process_executor,
        description="Render, archive and email one month's scorecards.",
    )


def build_scorecard_schedule(config: OperationsConfig) -> dg.ScheduleDefinition:
    n = config.scorecard_business_day

    @dg.schedule(
        name=SCORECARD_SCHEDULE,
        job_name=SCORECARD_JOB,
        cron_schedule=config.scorecard_cron,
        execution_timezone=config.timezone,
        default_status=config.schedule_status,
        description=(
            f"The previous month's scorecard on business day {n} of the month "
            f"(KPI_SCORECARD_BUSINESS_DAY; {config.calendar.label}), checked at "
            f"'{config.scorecard_cron}' ({config.timezone})."
        ),
    )
    def _scorecard(context: dg.ScheduleEvaluationContext):
        when = context.scheduled_execution_time or datetime.now(timezone.utc)
        today = when.astimezone(ZoneInfo(config.timezone)).date()
        if business_day_of_month(today, config.calendar) != n:
            holiday = config.calendar.holiday(today)
            return dg.SkipReason(
                f"{today} is not business day {n} of its month"
                + (f" ({holiday} is a public holiday)." if holiday else ".")
            )
        month = previous_month(today)
        partitions_def = None
        repository = context.repository_def
        if repository is not None and repository.has_job(SCORECARD_JOB):
            partitions_def = repository.get_job(SCORECARD_JOB).partitions_def
        if isinstance(partitions_def, dg.DynamicPartitionsDefinition):
            # Only months complete in the published copy are partitions (assets.py).
            key = month.strftime("%Y-%m")
            if not context.instance.has_dynamic_partition(partitions_def.name, key):
                return dg.SkipReason(
                    f"{key} is not complete in the published copy yet; the scorecard waits "
                    "for a pipeline run that loads the month's last day."
                )
            return dg.RunRequest(run_key=f"{SCORECARD_JOB}:{key}", partition_key=key)
        key = scorecard_partition_key(partitions_def, month)
        return dg.RunRequest(
            run_key=f"{SCORECARD_JOB}:{key}",
            partition_key=key if partitions_def is not None else None,
        )

    return _scorecard
