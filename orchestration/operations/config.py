"""How the warehouse runs by itself, from the environment.

Read when the definitions load, like ``Settings``: the UI and the command line see the
same schedules. Delivery channels (webhook, SMTP) hold secrets and are read in
``notify.py`` at the moment they are used, never stored or logged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg

from orchestration.operations.business_days import BusinessCalendar, CalendarError

DEFAULT_ALERT_RULES = Path(__file__).with_name("alert_rules.yml")

# Runs that write the working warehouse carry this tag; the instance's run queue lets one
# such run be in progress at a time (see instance.py): DuckDB allows one writing process
# per file, and no other process may even read it meanwhile.
WAREHOUSE_TAG = "kpi_warehouse/warehouse"


class ConfigError(ValueError):
    """A setting in the environment that cannot work; the message names the variable."""


def _int(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number.") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}.")
    return value


def _cron(name: str, default: str) -> str:
    value = os.environ.get(name) or default
    try:
        # Dagster's public schedule constructor validates with the parser its scheduler
        # uses, so what passes here is what the schedules accept.
        dg.ScheduleDefinition(name="cron_check", cron_schedule=value, job_name="cron_check")
    except (dg.DagsterInvalidDefinitionError, TypeError):
        raise ConfigError(f"{name}={value!r} is not a cron expression of five fields.") from None
    return value


def _timezone(name: str, default: str) -> str:
    value = os.environ.get(name) or default
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        message = f"{name}={value!r} is not an IANA time zone, e.g. Europe/Berlin."
        raise ConfigError(message) from None
    return value


def _status(name: str) -> bool:
    value = (os.environ.get(name) or "stopped").strip().lower()
    if value not in ("running", "stopped"):
        raise ConfigError(f"{name}={value!r} must be 'running' or 'stopped'.")
    return value == "running"


REMINDER_STATUSES = ("red", "amber")


def _statuses(name: str, default: str) -> tuple[str, ...]:
    raw = os.environ.get(name) or default
    values = tuple(dict.fromkeys(v.strip().lower() for v in raw.split(",") if v.strip()))
    if not values or set(values) - set(REMINDER_STATUSES):
        raise ConfigError(f"{name}={raw!r} must be 'red' or 'red,amber'.")
    return values


def _calendar() -> BusinessCalendar:
    try:
        return BusinessCalendar(
            country=(os.environ.get("KPI_HOLIDAYS_COUNTRY") or "").strip().upper() or None,
            subdivision=(os.environ.get("KPI_HOLIDAYS_SUBDIVISION") or "").strip().upper() or None,
        )
    except CalendarError as exc:
        raise ConfigError(str(exc)) from None


@dataclass(frozen=True)
class OperationsConfig:
    pipeline_cron: str
    timezone: str
    # The scorecard of a month goes out on this business day (Monday to Friday) of the next.
    scorecard_business_day: int
    # When, on business days, the scorecard schedule looks whether today is that day.
    scorecard_cron: str
    delivery_sensor_interval: int
    # A delivery file modified more recently than this may still be being written.
    delivery_settle_seconds: int
    # Whether schedules and the delivery sensor start switched on in a fresh instance.
    automation_running: bool
    alert_rules_path: Path
    ui_url: str
    # Business days skip these public holidays as well as weekends.
    calendar: BusinessCalendar = BusinessCalendar()
    # Owners are reminded this many business days before the scorecard goes out ...
    reminder_business_days: int = 2
    # ... about the KPIs in these statuses that have no commentary for the month ...
    reminder_statuses: tuple[str, ...] = ("red",)
    # ... and about their goal milestones due within this many days.
    milestone_reminder_days: int = 14

    @classmethod
    def from_env(cls) -> OperationsConfig:
        rules = os.environ.get("KPI_ALERT_RULES")
        return cls(
            pipeline_cron=_cron("KPI_PIPELINE_CRON", "0 6 * * *"),
            timezone=_timezone("KPI_TIMEZONE", "UTC"),
            scorecard_business_day=_int("KPI_SCORECARD_BUSINESS_DAY", 3, minimum=1),
            scorecard_cron=_cron("KPI_SCORECARD_CRON", "0 8 * * 1-5"),
            delivery_sensor_interval=_int("KPI_DELIVERY_SENSOR_INTERVAL", 60, minimum=5),
            delivery_settle_seconds=_int("KPI_DELIVERY_SETTLE_SECONDS", 60, minimum=0),
            automation_running=_status("KPI_AUTOMATION_DEFAULT_STATUS"),
            alert_rules_path=Path(rules).expanduser() if rules else DEFAULT_ALERT_RULES,
            ui_url=(os.environ.get("KPI_UI_URL") or "http://127.0.0.1:3000").rstrip("/"),
            calendar=_calendar(),
            reminder_business_days=_int("KPI_REMINDER_BUSINESS_DAYS", 2, minimum=1),
            reminder_statuses=_statuses("KPI_REMINDER_STATUSES", "red"),
            milestone_reminder_days=_int("KPI_MILESTONE_REMINDER_DAYS", 14, minimum=0),
        )

    @property
    def schedule_status(self) -> dg.DefaultScheduleStatus:
        return (
            dg.DefaultScheduleStatus.RUNNING
            if self.automation_running
            else dg.DefaultScheduleStatus.STOPPED
        )

    @property
    def sensor_status(self) -> dg.DefaultSensorStatus:
        return (
            dg.DefaultSensorStatus.RUNNING
            if self.automation_running
            else dg.DefaultSensorStatus.STOPPED
        )
