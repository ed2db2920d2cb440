"""Owners in the loop: their own scorecard, reminders, commentary without git, holidays.

Mail goes to a real aiosmtpd on 127.0.0.1 (STARTTLS, a login); the comment command runs
as a subprocess; the warehouse is a real pipeline run on generated data.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import shutil
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.keys import SCORECARD_JOB
from orchestration.operations.business_days import BusinessCalendar
from orchestration.operations.config import ConfigError, OperationsConfig
from orchestration.operations.reminders import commentary_due, plan_reminders, send_reminders
from orchestration.reports.schedules import build_scorecard_schedule
from orchestration.settings import published_path_for
from reports.commentary import load_commentary
from reports.owners import load_owners
from tests.smtp_helpers import PASSWORD, USER, smtp_server

CLI = [sys.executable, "-m", "orchestration.cli"]
OWNER_ENV = (
    "KPI_SMTP_HOST",
    "KPI_SMTP_PORT",
    "KPI_SMTP_STARTTLS",
    "KPI_SMTP_SSL",
    "KPI_SMTP_USER",
    "KPI_SMTP_PASSWORD",
    "KPI_SMTP_FROM",
    "KPI_SMTP_CA_FILE",
    "KPI_REPORT_RECIPIENTS",
    "KPI_OWNERS_FILE",
    "KPI_COMMENT_STORE",
    "KPI_COMMENT_INBOX",
    "KPI_HOLIDAYS_COUNTRY",
    "KPI_HOLIDAYS_SUBDIVISION",
    "KPI_REMINDER_BUSINESS_DAYS",
    "KPI_REMINDER_STATUSES",
    "KPI_MILESTONE_REMINDER_DAYS",
    "KPI_SCORECARD_BUSINESS_DAY",
)
OWNERS_YML = """
executives: [ceo@example.test, Board <board@example.test>]
owners:
  VP Sales: [sales@example.test]
  Head of Support: support@example.test
  Chief Financial Officer: [cfo@example.test]
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in OWNER_ENV:
        monkeypatch.delenv(name, raising=False)
    # Never the project's own var/ store or inbox.
    monkeypatch.setenv("KPI_COMMENT_STORE", str(tmp_path / "store" / "comments.jsonl"))
    monkeypatch.setenv("KPI_COMMENT_INBOX", str(tmp_path / "inbox"))


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    from orchestration.demo.generator import generate

    root = tmp_path_factory.mktemp("owners")
    generate(root / "landing", scale=0.02, seed=11)
    path = root / "warehouse.duckdb"
    result = subprocess.run(
        [*CLI, "run", "--landing-dir", str(root / "landing"), "--warehouse", str(path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return path


@pytest.fixture(scope="module")
def month(warehouse) -> str:
    from reports.scorecard import latest_complete_month

    return latest_complete_month(published_path_for(warehouse))


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def _stored(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _smtp_env(port: int, ca_file, owners: Path) -> dict[str, str]:
    return {
        "KPI_SMTP_HOST": "127.0.0.1",
        "KPI_SMTP_PORT": str(port),
        "KPI_SMTP_USER": USER,
        "KPI_SMTP_PASSWORD": PASSWORD,
        "KPI_SMTP_FROM": "kpi@example.test",
        "KPI_SMTP_CA_FILE": str(ca_file),
        "KPI_OWNERS_FILE": str(owners),
    }


# --- commentary without git ------------------------------------------------------------------


def test_comment_command_stores_author_and_time(tmp_path):
    store = Path(os.environ["KPI_COMMENT_STORE"])
    done = _cli(
        "comment",
        "--month",
        "2026-10",
        "--kpi",
        "revenue",
        "--text",
        "Two renewals  slipped.",
        "--author",
        "Ana Ruiz",
    )
    assert done.returncode == 0, done.stderr
    assert "stored the 2026-10 comment on revenue by Ana Ruiz" in done.stdout
    again = _cli("comment", "--month", "2026-10", "--kpi", "win_rate", "--text", "Fewer deals.")
    assert again.returncode == 0, again.stderr
    first, second = _stored(store)
    assert (first["month"], first["kpi_id"], first["text"], first["author"]) == (
        "2026-10",
        "revenue",
        "Two renewals slipped.",
        "Ana Ruiz",
    )
    # Without --author, the user who ran the command.
    assert second["author"] == getpass.getuser()
    stamp = datetime.fromisoformat(first["submitted_at"])
    assert abs((datetime.now(dt.timezone.utc) - stamp).total_seconds()) < 120


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["--month", "2026-10", "--kpi", "revenu", "--text", "x"],
            "error: 'revenu' is not a KPI id; KPI ids are: attendance_rate,",
        ),
        (
            ["--month", "2026-13", "--kpi", "revenue", "--text", "x"],
            "error: '2026-13' is not a month of the form YYYY-MM.",
        ),
        (
            ["--month", "2999-01", "--kpi", "revenue", "--text", "x"],
            "error: 2999-01 has not started yet; comment on a month that has.",
        ),
        (["--month", "2026-10", "--kpi", "revenue", "--text", "  "], "error: The comment text is"),
        (["--month", "2026-10"], "error: Give --kpi, --text (or --inbox"),
    ],
)
def test_comment_command_errors_are_one_sentence(args, error):
    done = _cli("comment", *args)
    assert done.returncode == 1
    assert done.stderr.startswith(error), done.stderr
    assert done.stderr.count("\n") == 1
    assert not Path(os.environ["KPI_COMMENT_STORE"]).exists()


def test_dropped_csv_is_imported_and_the_reviewed_file_wins(tmp_path):
    inbox = Path(os.environ["KPI_COMMENT_INBOX"])
    store = Path(os.environ["KPI_COMMENT_STORE"])
    inbox.mkdir()
    (inbox / "sales.csv").write_text(
        "month,kpi_id,text,author\n"
        "2026-10,revenue,Draft: renewals slipped.,Ana\n"
        '2026-10,win_rate,"Fewer, larger deals.",Ben\n'
    )
    (inbox / "support.csv").write_text(
        "month,kpi_id,text,author\n2026-10,ticket_backlog,Falling.,Cy\n2026-10,backlog,x,Cy\n"
    )
    done = _cli("comment", "--inbox")
    assert done.returncode == 1
    assert "support.csv, line 3: 'backlog' is not a KPI id" in done.stderr
    assert [r["kpi_id"] for r in _stored(store)] == ["revenue", "win_rate"]
    assert sorted(p.name for p in (inbox / "rejected").iterdir()) == [
        "support.csv",
        "support.csv.error.txt",
    ]
    assert "line 3" in (inbox / "rejected" / "support.csv.error.txt").read_text()
    (imported,) = (inbox / "imported").iterdir()
    assert imported.name.endswith("-sales.csv")
    assert not list(inbox.glob("*.csv"))

    reviewed = tmp_path / "reviewed"
    reviewed.mkdir()
    (reviewed / "2026-10.yml").write_text("revenue: Reviewed - two renewals moved to November.\n")
    known = {"revenue", "win_rate", "ticket_backlog"}
    merged = load_commentary("2026-10", known, reviewed, store)
    assert merged.comments == {
        "revenue": "Reviewed - two renewals moved to November.",
        "win_rate": "Fewer, larger deals.",
    }
    assert set(merged.submitted) == {"win_rate"}
    assert merged.submitted["win_rate"].author == "Ben"
    assert merged.submitted["win_rate"].source == "sales.csv"
    # Another month sees none of it.
    assert load_commentary("2026-09", known, reviewed, store).comments == {}


def test_the_pipeline_asset_picks_up_the_inbox(tmp_path):
    from orchestration.operations.assets import COMMENT_INBOX_KEY, comment_inbox

    inbox = Path(os.environ["KPI_COMMENT_INBOX"])
    inbox.mkdir()
    (inbox / "drop.csv").write_text("month,kpi_id,text\n2026-09,csat_score,Survey changed.\n")
    result = dg.materialize([comment_inbox])
    assert result.success
    (event,) = result.get_asset_materialization_events()
    assert event.asset_key == COMMENT_INBOX_KEY
    assert event.materialization.metadata["comments_imported"].value == 1
    (record,) = _stored(Path(os.environ["KPI_COMMENT_STORE"]))
    assert (record["kpi_id"], record["author"], record["source"]) == (
        "csat_score",
        "unknown",
        "drop.csv",
    )


# --- holidays ---------------------------------------------------------------------------------


def test_a_holiday_shifts_the_due_business_day():
    # January 2027: the 1st (New Year) is a Friday, the 6th (Epiphany) a holiday in Bavaria.
    assert BusinessCalendar().nth_business_day(2027, 1, 3) == date(2027, 1, 5)
    assert BusinessCalendar("DE").nth_business_day(2027, 1, 3) == date(2027, 1, 6)
    assert BusinessCalendar("DE", "BY").nth_business_day(2027, 1, 3) == date(2027, 1, 7)
    assert BusinessCalendar("DE", "BY").business_day_of_month(date(2027, 1, 6)) is None
    assert BusinessCalendar("DE", "BY").business_days_before(date(2027, 1, 7), 2) == date(
        2027, 1, 4
    )


def test_the_schedule_and_the_reminder_follow_the_holiday_calendar(monkeypatch):
    monkeypatch.setenv("KPI_SCORECARD_BUSINESS_DAY", "3")
    monkeypatch.setenv("KPI_REMINDER_BUSINESS_DAYS", "2")
    plain = OperationsConfig.from_env()
    monkeypatch.setenv("KPI_HOLIDAYS_COUNTRY", "de")
    monkeypatch.setenv("KPI_HOLIDAYS_SUBDIVISION", "by")
    config = OperationsConfig.from_env()

    monthly = dg.MonthlyPartitionsDefinition(start_date="2024-01-01")

    @dg.asset(partitions_def=monthly)
    def scorecard():
        return None

    schedule = build_scorecard_schedule(config)
    defs = dg.Definitions(
        assets=[scorecard],
        jobs=[dg.define_asset_job(SCORECARD_JOB, selection=[scorecard])],
        schedules=[schedule],
    )
    repository = defs.get_repository_def()

    def tick(day: int):
        context = dg.build_schedule_context(
            scheduled_execution_time=datetime(2027, 1, day, 8, tzinfo=dt.timezone.utc),
            repository_def=repository,
        )
        return repository.get_schedule_def(schedule.name).evaluate_tick(context)

    # Without holidays business day 3 is the 5th; in Bavaria the 1st and 6th do not count.
    assert not tick(5).run_requests
    held = tick(6)
    assert not held.run_requests
    assert "public holiday" in held.skip_message
    (request,) = tick(7).run_requests
    assert request.partition_key == "2026-12-01"

    # Two business days before the scorecard: the 4th in Bavaria, New Year's Day without.
    assert commentary_due(date(2027, 1, 4), config) == ("2026-12", date(2027, 1, 7))
    assert commentary_due(date(2027, 1, 5), config) is None
    assert commentary_due(date(2027, 1, 1), plain) == ("2026-12", date(2027, 1, 5))
    # The reminder may fall in the month before the scorecard's: 30 Dec 2026 for N=3.
    monkeypatch.setenv("KPI_REMINDER_BUSINESS_DAYS", "3")
    assert commentary_due(date(2026, 12, 31), OperationsConfig.from_env()) == (
        "2026-12",
        date(2027, 1, 7),
    )


def test_an_unknown_holiday_region_is_one_sentence(monkeypatch):
    monkeypatch.setenv("KPI_HOLIDAYS_COUNTRY", "XX")
    with pytest.raises(ConfigError, match=r"^KPI_HOLIDAYS_COUNTRY='XX' is not a country"):
        OperationsConfig.from_env()
    monkeypatch.setenv("KPI_HOLIDAYS_COUNTRY", "DE")
    monkeypatch.setenv("KPI_HOLIDAYS_SUBDIVISION", "ZZ")
    with pytest.raises(ConfigError, match=r"^KPI_HOLIDAYS_SUBDIVISION='ZZ' is not a subdivision"):
        OperationsConfig.from_env()


# --- reminders ----------------------------------------------------------------------------


@pytest.fixture()
def reminder_copy(warehouse, month, tmp_path) -> Path:
    """The published copy with known statuses for the month and no goals table: each test
    adds the milestones it needs."""
    path = tmp_path / "published.duckdb"
    shutil.copy(published_path_for(warehouse), path)
    start = date.fromisoformat(month + "-01")
    con = duckdb.connect(str(path))
    con.execute(
        "update kpi.kpi_values set status = case kpi_id when 'revenue' then 'red' "
        "when 'win_rate' then 'red' when 'ticket_backlog' then 'amber' "
        "when 'attendance_rate' then 'red' else 'green' end "
        "where grain = 'month' and dimension = 'all' and period_start = ?",
        [start],
    )
    con.execute("drop table if exists kpi.goal_progress")
    con.close()
    return path


def _add_goals(path: Path, today: date) -> None:
    con = duckdb.connect(str(path))
    con.execute(
        "create table kpi.goal_progress (objective_title varchar, objective_owner varchar, "
        "milestone_title varchar, milestone_date date, milestone_status varchar)"
    )
    con.executemany(
        "insert into kpi.goal_progress values (?, ?, ?, ?, ?)",
        [
            (
                "Grow margin",
                "Chief Financial Officer",
                "Price list live",
                today + dt.timedelta(5),
                "due_soon",
            ),
            (
                "Grow margin",
                "Chief Financial Officer",
                "Supplier deal",
                today + dt.timedelta(40),
                "upcoming",
            ),
            ("Grow margin", "Chief Financial Officer", "Audit", today + dt.timedelta(3), "met"),
        ],
    )
    con.close()


@pytest.mark.slow
def test_reminders_reach_owners_of_off_track_kpis_without_commentary(
    reminder_copy, month, tmp_path, monkeypatch
):
    monkeypatch.setenv("KPI_SCORECARD_BUSINESS_DAY", "3")
    monkeypatch.setenv("KPI_REMINDER_BUSINESS_DAYS", "2")
    monkeypatch.setenv("KPI_MILESTONE_REMINDER_DAYS", "14")
    config = OperationsConfig.from_env()
    start = date.fromisoformat(month + "-01")
    following = (start + dt.timedelta(days=32)).replace(day=1)
    due = config.calendar.nth_business_day(following.year, following.month, 3)
    today = config.calendar.business_days_before(due, 2)
    _add_goals(reminder_copy, today)
    owners = tmp_path / "owners.yml"
    owners.write_text(OWNERS_YML)
    store = Path(os.environ["KPI_COMMENT_STORE"])
    from reports.commentary import submit_comment

    # win_rate has its comment: VP Sales is reminded of revenue only.
    submit_comment(month, "win_rate", "Fewer, larger deals.", "Ana", {"win_rate"}, store)
    empty = tmp_path / "reviewed"
    empty.mkdir()

    plan = plan_reminders(reminder_copy, today, config, load_owners(owners), empty, store)
    assert (plan.month, plan.due) == (month, due)
    assert sorted(plan.reminders) == ["Chief Financial Officer", "VP Sales"]
    assert [k["kpi_id"] for k in plan.reminders["VP Sales"].kpis] == ["revenue"]
    assert [m["milestone_title"] for m in plan.reminders["Chief Financial Officer"].milestones] == [
        "Price list live"
    ]
    # attendance_rate is red but its owner has no address: said, not silently dropped.
    assert "No e-mail address is set for the owner 'Chief People Officer'." in plan.skipped

    with smtp_server(tmp_path, mode="starttls") as (port, inbox, ca_file):
        sent, problems = send_reminders(plan, _smtp_env(port, ca_file, owners))
    assert problems == []
    assert sorted(sent) == sorted(
        [
            f"commentary:{month}:VP Sales",
            "milestone:Grow margin|Price list live|"
            f"{(today + dt.timedelta(5)).isoformat()}:Chief Financial Officer",
        ]
    )
    by_rcpt = {tuple(e.rcpt_tos): m for e, m in zip(inbox.envelopes, inbox.messages, strict=True)}
    assert set(by_rcpt) == {("sales@example.test",), ("cfo@example.test",)}
    assert inbox.verbs.index("STARTTLS") < inbox.verbs.index("AUTH")
    sales = by_rcpt[("sales@example.test",)]
    body = sales.get_content()
    assert sales["Subject"] == f"KPI scorecard {month}: commentary wanted for 1 KPI(s)"
    assert f"goes out on {due.isoformat()}" in body
    assert "(revenue)" in body and "win_rate" not in body
    assert f"kpi-warehouse comment --month {month} --kpi <KPI id>" in body
    cfo = by_rcpt[("cfo@example.test",)].get_content()
    assert "Grow margin / Price list live" in cfo
    assert "Supplier deal" not in cfo and "Audit" not in cfo

    # What went out is not sent again; amber joins when configured.
    again = plan_reminders(
        reminder_copy, today, config, load_owners(owners), empty, store, set(sent)
    )
    assert again.reminders == {}
    monkeypatch.setenv("KPI_REMINDER_STATUSES", "red,amber")
    amber = plan_reminders(
        reminder_copy,
        today,
        OperationsConfig.from_env(),
        load_owners(owners),
        empty,
        store,
        set(sent),
    )
    assert [k["kpi_id"] for k in amber.reminders["Head of Support"].kpis] == ["ticket_backlog"]


@pytest.mark.slow
def test_reminders_skip_milestones_without_a_goals_table_and_wait_for_the_day(
    reminder_copy, month, tmp_path, monkeypatch
):
    owners = tmp_path / "owners.yml"
    owners.write_text(OWNERS_YML)
    config = OperationsConfig.from_env()
    start = date.fromisoformat(month + "-01")
    following = (start + dt.timedelta(days=32)).replace(day=1)
    due = config.calendar.nth_business_day(following.year, following.month, 3)
    # The scorecard's own day is not the reminder's.
    plan = plan_reminders(reminder_copy, due, config, load_owners(owners))
    assert plan.month is None
    assert plan.reminders == {}
    assert plan.skipped == [
        "kpi.goal_progress is not in the published copy, so no milestone was checked."
    ]


# --- each owner their own scorecard -------------------------------------------------------


@pytest.mark.slow
def test_each_owner_is_mailed_their_own_scorecard(warehouse, month, tmp_path):
    owners = tmp_path / "owners.yml"
    owners.write_text(OWNERS_YML)
    archive = tmp_path / "archive"
    empty = tmp_path / "reviewed"
    empty.mkdir()
    with smtp_server(tmp_path, mode="starttls") as (port, inbox, ca_file):
        env = {**_smtp_env(port, ca_file, owners), "KPI_COMMENTARY_DIR": str(empty)}
        base = ["report", "--warehouse", str(warehouse), "--month", month, "--out", str(archive)]
        owner = _cli(*base, "--owner", "vp sales", "--email", env=env)
        assert owner.returncode == 0, owner.stderr
        company = _cli(*base, "--email", env=env)
        assert company.returncode == 0, company.stderr
        nobody = _cli(*base, "--owner", "VP Engineering", "--email", env=env)
    assert nobody.returncode == 1
    assert nobody.stderr.strip() == (
        f"error: No e-mail address is set for the owner 'VP Engineering' in {owners}."
    )
    assert [e.rcpt_tos for e in inbox.envelopes] == [
        ["sales@example.test"],
        ["ceo@example.test", "board@example.test"],
    ]
    sales, full = inbox.messages
    assert sales["Subject"].startswith(f"KPI scorecard {_label(month)} - VP Sales")
    (attachment,) = list(sales.iter_attachments())
    assert attachment.get_filename() == f"scorecard-{month}-vp-sales.pdf"
    assert "KPIs owned by VP Sales" in sales.get_body(("plain",)).get_content()
    (attachment,) = list(full.iter_attachments())
    assert attachment.get_filename() == f"scorecard-{month}.pdf"


def _label(month: str) -> str:
    return date.fromisoformat(month + "-01").strftime("%B %Y")


def test_the_reminder_sensor_sends_once_and_keeps_what_it_sent(tmp_path, monkeypatch):
    """The sensor as the daemon ticks it: today's date, a small published copy."""
    from orchestration.operations.reminders import REMINDER_SENSOR, build_reminder_sensor
    from orchestration.settings import Settings

    published = tmp_path / "warehouse.published.duckdb"
    today = date.today()
    con = duckdb.connect(str(published))
    con.execute("create schema kpi")
    con.execute(
        "create table kpi.kpi_values (kpi_id varchar, grain varchar, dimension varchar, "
        "period_start date, value double, target double, status varchar)"
    )
    con.execute(
        "create table kpi.kpi_definitions (kpi_id varchar, name varchar, owner varchar, "
        "unit varchar, is_current boolean)"
    )
    con.execute(
        "create table kpi.goal_progress (objective_title varchar, objective_owner varchar, "
        "milestone_title varchar, milestone_date date, milestone_status varchar)"
    )
    con.execute(
        "insert into kpi.goal_progress values ('Faster support', 'Head of Support', "
        "'New rota', ?, 'due_soon')",
        [today + dt.timedelta(days=2)],
    )
    con.close()
    owners = tmp_path / "owners.yml"
    owners.write_text(OWNERS_YML)
    settings = Settings.from_env()
    from dataclasses import replace

    sensor = build_reminder_sensor(
        replace(settings, published_path=published), OperationsConfig.from_env()
    )
    assert sensor.name == REMINDER_SENSOR
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    instance = dg.DagsterInstance.ephemeral()
    with smtp_server(tmp_path, mode="starttls") as (port, inbox, ca_file):
        for name, value in _smtp_env(port, ca_file, owners).items():
            monkeypatch.setenv(name, value)
        first = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
        second = sensor.evaluate_tick(
            dg.build_sensor_context(instance=instance, cursor=first.cursor)
        )
    assert first.skip_message == "Reminded 1 owner(s)."
    assert json.loads(first.cursor) == [
        f"milestone:Faster support|New rota|{(today + dt.timedelta(days=2)).isoformat()}"
        ":Head of Support"
    ]
    assert [e.rcpt_tos for e in inbox.envelopes] == [["support@example.test"]]
    assert "Faster support / New rota" in inbox.messages[0].get_content()
    assert not second.run_requests
    assert second.cursor == first.cursor
    assert len(inbox.envelopes) == 1


@pytest.mark.slow
def test_the_monthly_job_mails_each_mapped_owner_their_scorecard(
    warehouse, month, tmp_path, monkeypatch
):
    from orchestration.cli import _settings_for
    from orchestration.definitions import build_definitions
    from orchestration.keys import SCORECARD_JOB, SCORECARD_MONTHS
    from orchestration.reports.assets import (
        OWNER_EMAILS_KEY,
        OWNER_SCORECARDS_KEY,
        complete_months,
    )

    owners = tmp_path / "owners.yml"
    owners.write_text(OWNERS_YML)
    empty = tmp_path / "reviewed"
    empty.mkdir()
    monkeypatch.setenv("KPI_REPORTS_DIR", str(tmp_path / "archive"))
    monkeypatch.setenv("KPI_COMMENTARY_DIR", str(empty))
    defs = build_definitions(_settings_for(warehouse.parent, warehouse, None))
    job = defs.resolve_job_def(SCORECARD_JOB)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(
        SCORECARD_MONTHS, complete_months(published_path_for(warehouse))
    )
    with smtp_server(tmp_path, mode="starttls") as (port, inbox, ca_file):
        for name, value in _smtp_env(port, ca_file, owners).items():
            monkeypatch.setenv(name, value)
        result = job.execute_in_process(
            partition_key=month,
            asset_selection=[OWNER_SCORECARDS_KEY, OWNER_EMAILS_KEY],
            instance=instance,
        )
    assert result.success
    events = {e.asset_key: e for e in result.get_asset_materialization_events()}
    metadata = events[OWNER_EMAILS_KEY].materialization.metadata
    # Three roles have addresses; the other six are named, not mailed.
    assert metadata["sent"].value == 3
    assert len(metadata["owners_without_address"].value) == 6
    assert "VP Engineering" in metadata["owners_without_address"].value
    sent = {e.rcpt_tos[0]: e for e in inbox.envelopes}
    assert set(sent) == {"sales@example.test", "support@example.test", "cfo@example.test"}
    assert f"scorecard-{month}-vp-sales.pdf".encode() in sent["sales@example.test"].content
    assert f"scorecard-{month}-head-of-support.pdf".encode() in sent["support@example.test"].content
