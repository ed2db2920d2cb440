"""When things run: the daily pipeline and the monthly scorecard after month close."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import dagster as dg

from orchestration.operations.business_days import BusinessCalendar
from orchestration.operations.config import OperationsConfig

# The jobs are defined elsewhere (definitions.py, reports/); schedules name them.
PIPELINE_JOB = "kpi_pipeline"
SCORECARD_JOB = "monthly_scorecard"
PIPELINE_SCHEDULE = "kpi_pipeline_daily"
SCORECARD_SCHEDULE = "monthly_scorecard_after_close"


def business_day_of_month(day: date, calendar: BusinessCalendar | None = None) -> int | None:
    """1 on the month's first business day, 2 on the second, …; None on other days.

    Business days are Monday to Friday less the public holidays of the configured region
    (KPI_HOLIDAYS_COUNTRY, KPI_HOLIDAYS_SUBDIVISION; see business_days.py).
    """
    return (calendar or BusinessCalendar()).business_day_of_month(day)


def previous_month(day: date) -> date:
    return (day.replace(day=1) - timedelta(days=1)).replace(day=1)


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


def build_pipeline_schedule(config: OperationsConfig) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name=PIPELINE_SCHEDULE,
        job_name=PIPELINE_JOB,
        cron_schedule=config.pipeline_cron,
        execution_timezone=config.timezone,
        default_status=config.schedule_status,
        description=(
            f"The whole pipeline at '{config.pipeline_cron}' ({config.timezone}); set "
            "KPI_PIPELINE_CRON and KPI_TIMEZONE to change it."
        ),
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
            # Only months complete in the published copy are partitions (reports/assets.py).
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
