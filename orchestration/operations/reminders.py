"""Reminding owners before the scorecard goes out, not after.

``KPI_REMINDER_BUSINESS_DAYS`` business days before the monthly scorecard is due
(business day ``KPI_SCORECARD_BUSINESS_DAY`` of the month, on the holiday calendar of
business_days.py), each owner of a KPI that is off track for the scorecard's month
(``KPI_REMINDER_STATUSES``: red, or red and amber) and has no commentary yet gets one
e-mail listing those KPIs and how to comment. Owners of goal milestones due within
``KPI_MILESTONE_REMINDER_DAYS`` days (``kpi.goal_progress``) get one too, any day a
milestone comes into that window. Addresses come from the owners file (reports.owners);
mail goes through the one SMTP client, reports.mail.

``plan_reminders`` decides who is told what and sends nothing; ``send_reminders`` sends a
plan. The sensor in build_reminder_sensor calls both and keeps in its cursor what went
out, so nobody is reminded twice about the same thing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg

from orchestration.operations.business_days import previous_month
from orchestration.operations.config import OperationsConfig
from orchestration.settings import Settings
from reports.formatting import format_plain

REMINDER_SENSOR = "owner_reminders"
# The columns of kpi.goal_progress (dbt_project/models/kpi/_kpi__roll_up.yml) it reads.
_MILESTONE_COLUMNS = (
    "objective_owner",
    "milestone_status",
    "objective_title",
    "milestone_title",
    "milestone_date",
)


@dataclass
class OwnerReminder:
    owner: str
    addresses: tuple[str, ...]
    kpis: list[dict] = field(default_factory=list)
    milestones: list[dict] = field(default_factory=list)


@dataclass
class ReminderPlan:
    today: date
    # The scorecard month whose commentary is asked for, when today is the reminder day.
    month: str | None
    due: date | None
    reminders: dict[str, OwnerReminder] = field(default_factory=dict)
    # One sentence per thing that was not done, and why (no goals table, no address).
    skipped: list[str] = field(default_factory=list)

    def keys(self, owner: str) -> list[str]:
        """What this owner's e-mail covers, as cursor entries."""
        reminder = self.reminders[owner]
        keys = [f"commentary:{self.month}:{owner}"] if reminder.kpis else []
        return keys + [f"milestone:{m['key']}:{owner}" for m in reminder.milestones]


def commentary_due(today: date, config: OperationsConfig) -> tuple[str, date] | None:
    """(scorecard month, its due date) when ``today`` is the day to remind owners."""
    first = today.replace(day=1)
    for month_start in (first, (first + timedelta(days=32)).replace(day=1)):
        due = config.calendar.nth_business_day(
            month_start.year, month_start.month, config.scorecard_business_day
        )
        if config.calendar.business_days_before(due, config.reminder_business_days) == today:
            return previous_month(month_start).strftime("%Y-%m"), due
    return None


def _columns(con, table: str) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'kpi' and table_name = ? order by ordinal_position",
            [table],
        ).fetchall()
    ]


def _off_track(con, month: str, statuses: tuple[str, ...]) -> list[dict]:
    rows = con.execute(
        f"""
        select v.kpi_id, d.name, d.owner, d.unit, v.value, v.target, v.status
        from kpi.kpi_values v
        join kpi.kpi_definitions d on d.kpi_id = v.kpi_id and d.is_current
        where v.grain = 'month' and v.dimension = 'all' and v.period_start = ?
          and v.status in ({", ".join("?" for _ in statuses)})
        order by d.owner, v.kpi_id
        """,
        [date.fromisoformat(month + "-01"), *statuses],
    ).fetchall()
    names = ("kpi_id", "name", "owner", "unit", "value", "target", "status")
    return [dict(zip(names, r, strict=True)) for r in rows]


def _milestones(con, today: date, days: int) -> tuple[list[dict], str | None]:
    """Milestones due within ``days`` days, or a sentence saying why none were read."""
    if not _columns(con, "goal_progress"):
        return [], "kpi.goal_progress is not in the published copy, so no milestone was checked."
    # Due within the window and not met yet, whatever the status was when the warehouse
    # last built it.
    rows = con.execute(
        f"select distinct {', '.join(_MILESTONE_COLUMNS)} from kpi.goal_progress "
        "where milestone_date between ? and ? and coalesce(milestone_status, '') <> 'met' "
        "and objective_owner is not null order by all",
        [today, today + timedelta(days=days)],
    ).fetchall()
    found = []
    for row in rows:
        record = dict(zip(_MILESTONE_COLUMNS, row, strict=True))
        record["owner"] = record["objective_owner"]
        parts = [
            str(record[c])
            for c in ("objective_title", "milestone_title", "milestone_date")
            if record[c] is not None
        ]
        record["due"] = record["milestone_date"]
        record["label"] = " / ".join(parts) or "a milestone"
        record["key"] = "|".join(parts)
        found.append(record)
    return found, None


def plan_reminders(
    published_path: Path,
    today: date,
    config: OperationsConfig,
    directory=None,
    commentary_dir: Path | None = None,
    comment_store: Path | None = None,
    already_sent: set[str] | frozenset[str] = frozenset(),
) -> ReminderPlan:
    """Who is to be reminded of what today; nothing is sent."""
    import duckdb

    from reports.commentary import load_commentary
    from reports.owners import load_owners

    directory = directory if directory is not None else load_owners()
    due = commentary_due(today, config)
    plan = ReminderPlan(today=today, month=due[0] if due else None, due=due[1] if due else None)
    if not Path(published_path).is_file():
        plan.skipped.append(f"The published copy {published_path} does not exist yet.")
        return plan
    con = duckdb.connect(str(published_path), read_only=True)
    try:
        off_track = _off_track(con, plan.month, config.reminder_statuses) if due else []
        known = {r[0] for r in con.execute("select kpi_id from kpi.kpi_definitions").fetchall()}
        milestones, why_not = _milestones(con, today, config.milestone_reminder_days)
    finally:
        con.close()
    if why_not:
        plan.skipped.append(why_not)
    if due and not off_track:
        plan.skipped.append(
            f"No KPI is {' or '.join(config.reminder_statuses)} for {plan.month} in the "
            "published copy."
        )
    commented = load_commentary(plan.month, known, commentary_dir, comment_store) if due else None

    def reminder(owner: str) -> OwnerReminder | None:
        if owner not in plan.reminders:
            addresses = directory.addresses(owner)
            if not addresses:
                plan.skipped.append(f"No e-mail address is set for the owner '{owner}'.")
                return None
            plan.reminders[owner] = OwnerReminder(owner=owner, addresses=addresses)
        return plan.reminders[owner]

    unmapped: set[str] = set()
    for kpi in off_track:
        if kpi["kpi_id"] in commented.comments:
            continue
        if f"commentary:{plan.month}:{kpi['owner']}" in already_sent or kpi["owner"] in unmapped:
            continue
        target = reminder(kpi["owner"])
        if target is None:
            unmapped.add(kpi["owner"])
            continue
        target.kpis.append(kpi)
    for milestone in milestones:
        owner = milestone["owner"]
        if f"milestone:{milestone['key']}:{owner}" in already_sent or owner in unmapped:
            continue
        target = reminder(owner)
        if target is None:
            unmapped.add(owner)
            continue
        target.milestones.append(milestone)
    plan.reminders = {o: r for o, r in plan.reminders.items() if r.kpis or r.milestones}
    return plan


def reminder_message(plan: ReminderPlan, reminder: OwnerReminder) -> EmailMessage:
    lines = [f"Dear {reminder.owner},", ""]
    if reminder.kpis:
        lines += [
            f"The {plan.month} KPI scorecard goes out on {plan.due.isoformat()}. These KPIs of "
            "yours are off track and have no commentary yet:",
            "",
        ]
        for k in reminder.kpis:
            lines.append(
                f"- {k['name']} ({k['kpi_id']}): {format_plain(k['value'], k['unit'])} against "
                f"{format_plain(k['target'], k['unit'])}, {k['status']}"
            )
        lines += [
            "",
            "Say what happened and what is being done, in a sentence or two:",
            f'  kpi-warehouse comment --month {plan.month} --kpi <KPI id> --text "..."',
            "or drop a CSV file (month,kpi_id,text,author) in the commentary inbox.",
        ]
    if reminder.milestones:
        if reminder.kpis:
            lines.append("")
        lines += ["These goal milestones of yours are due soon:", ""]
        for m in reminder.milestones:
            lines.append(f"- {m['label']}")
    message = EmailMessage()
    what = []
    if reminder.kpis:
        what.append(f"commentary wanted for {len(reminder.kpis)} KPI(s)")
    if reminder.milestones:
        what.append(f"{len(reminder.milestones)} milestone(s) due soon")
    message["Subject"] = f"KPI scorecard{f' {plan.month}' if plan.month else ''}: " + "; ".join(
        what
    )
    message["To"] = ", ".join(reminder.addresses)
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message.set_content("\n".join(lines) + "\n")
    return message


def send_reminders(plan: ReminderPlan, env=None) -> tuple[list[str], list[str]]:
    """Send each owner's reminder; the cursor keys of what went out, and the problems."""
    from reports.mail import MailError, SmtpSettings, send

    if not plan.reminders:
        return [], []
    settings = SmtpSettings.from_env(env)
    if settings is None:
        return [], ["KPI_SMTP_HOST is not set, so no reminder was sent."]
    sent: list[str] = []
    problems: list[str] = []
    for owner, reminder in sorted(plan.reminders.items()):
        try:
            send(reminder_message(plan, reminder), replace(settings, recipients=reminder.addresses))
        except MailError as exc:
            problems.append(f"The reminder to {owner} was not sent: {exc}")
            continue
        sent.extend(plan.keys(owner))
    return sent, problems


def build_reminder_sensor(settings: Settings, config: OperationsConfig) -> dg.SensorDefinition:
    published = Path(settings.published_path)

    @dg.sensor(
        name=REMINDER_SENSOR,
        minimum_interval_seconds=3600,
        default_status=config.sensor_status,
        description=(
            f"E-mails KPI owners {config.reminder_business_days} business day(s) "
            "(KPI_REMINDER_BUSINESS_DAYS) before the scorecard is due about their "
            f"{'/'.join(config.reminder_statuses)} KPIs without commentary, and about goal "
            f"milestones due within {config.milestone_reminder_days} days "
            f"(KPI_MILESTONE_REMINDER_DAYS); {config.calendar.label}."
        ),
    )
    def _owner_reminders(context: dg.SensorEvaluationContext):
        from reports.commentary import CommentaryError
        from reports.mail import MailError
        from reports.owners import OwnersError

        today = datetime.now(timezone.utc).astimezone(ZoneInfo(config.timezone)).date()
        cursor = json.loads(context.cursor) if context.cursor else []
        try:
            plan = plan_reminders(published, today, config, already_sent=set(cursor))
            sent, problems = send_reminders(plan)
        except (OwnersError, CommentaryError, MailError) as exc:
            return dg.SkipReason(str(exc))
        for sentence in plan.skipped + problems:
            context.log.warning(sentence)
        # Keys of past months are dropped after a quarter, so the cursor stays small.
        horizon = (today - timedelta(days=92)).strftime("%Y-%m")
        kept = [k for k in cursor if not k.startswith("commentary:") or k[11:18] >= horizon]
        reason = (
            f"Reminded {len(plan.reminders)} owner(s)."
            if sent
            else " ".join(plan.skipped + problems) or "No reminder is due today."
        )
        return dg.SensorResult(skip_reason=reason, cursor=json.dumps(sorted(set(kept + sent))))

    return _owner_reminders
