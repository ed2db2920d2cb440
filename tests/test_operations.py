"""Early warning and automation: alert rules on crafted KPI series, real delivery.

Alerts are evaluated by the real Dagster assets on a real DuckDB warehouse whose KPI
series were written to go red, flap and recover; runs are simulated by letting one more
period complete each time. Notifications go to a real HTTP receiver and a real SMTP
server (aiosmtpd), both on 127.0.0.1 at ephemeral ports.
"""

from __future__ import annotations

import datetime as dt
import email
import json
import os
import socket
import ssl
import threading
import time
from dataclasses import replace
from datetime import date, datetime
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from orchestration.operations import alerts as al
from orchestration.operations.assets import (
    DELIVERED_CHECK,
    build_alerts_asset,
    build_notifications_asset,
)
from orchestration.operations.config import OperationsConfig
from orchestration.operations.instance import INSTANCE_YAML, ensure_instance_config
from orchestration.operations.notify import (
    DeliveryFailed,
    WebhookChannel,
    format_payload,
    webhook_format_for,
)
from orchestration.operations.sensors import (
    FAILURE_SENSOR,
    build_delivery_sensor,
    build_failure_sensor,
    landing_fingerprint,
)
from orchestration.reports.schedules import (
    SCORECARD_JOB,
    build_scorecard_schedule,
    business_day_of_month,
    scorecard_partition_key,
)
from orchestration.resources import WarehouseResource
from orchestration.settings import Settings
from tests.tls_helpers import self_signed_certificate

CHANNEL_ENV = (
    "KPI_ALERT_WEBHOOK_URL",
    "KPI_ALERT_WEBHOOK_FORMAT",
    "KPI_SMTP_HOST",
    "KPI_SMTP_PORT",
    "KPI_SMTP_STARTTLS",
    "KPI_SMTP_SSL",
    "KPI_SMTP_CA_FILE",
    "KPI_SMTP_TIMEOUT",
    "KPI_SMTP_USER",
    "KPI_SMTP_PASSWORD",
    "KPI_SMTP_FROM",
    "KPI_ALERT_RECIPIENTS",
)


# --- local receivers ------------------------------------------------------------------------


class Receiver:
    """An HTTP endpoint on loopback that keeps every JSON body posted to it."""

    def __init__(self):
        self.bodies: list[dict] = []
        self.fail_next = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.fail_next:
                    receiver.fail_next -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.bodies.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/kpi?token=s3cret"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def mailbox():
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port())
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


@pytest.fixture
def channels(monkeypatch, receiver, mailbox):
    for name in CHANNEL_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KPI_ALERT_WEBHOOK_URL", receiver.url)
    monkeypatch.setenv("KPI_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("KPI_SMTP_PORT", str(mailbox.port))
    # A relay without TLS and without a login: allowed only when switched off explicitly.
    monkeypatch.setenv("KPI_SMTP_STARTTLS", "false")
    monkeypatch.setenv("KPI_SMTP_FROM", "kpi-warehouse@example.test")
    monkeypatch.setenv("KPI_ALERT_RECIPIENTS", "ceo@example.test, vp-sales@example.test")
    return receiver, mailbox


# --- a warehouse with crafted KPI series ----------------------------------------------------

# Month by month (first month 2025-01): two reds raise; the flap that follows (green, red,
# green, amber) does not clear; two greens do; a lone red after that does not raise again;
# two reds at the end do.
REVENUE = ["green", "green", "red", "red", "green", "red", "green", "amber", "green", "green"]
REVENUE += ["red", "green", "red", "red"]
RAISED_AT, CLEARED_AT, RAISED_AGAIN_AT = 4, 10, 14  # 1-based months

# Weekly, watched for amber too: amber, red raise; green, green clear.
SLA = ["green", "amber", "red", "amber", "green", "green", "green"]


def _month(i: int) -> date:
    return date(2025 + (i - 1) // 12, (i - 1) % 12 + 1, 1)


def _week(i: int) -> date:
    return date(2025, 1, 6) + dt.timedelta(weeks=i - 1)


def _write_warehouse(path: Path, complete_months: int) -> None:
    """KPI values up to ``complete_months`` complete months, plus one running month.

    The running month is red: were incomplete periods evaluated, alerts would come early.
    """
    con = duckdb.connect(str(path))
    con.execute("create schema if not exists kpi")
    con.execute(
        "create or replace table kpi.kpi_definitions (kpi_id varchar, name varchar, "
        "owner varchar, unit varchar, perspective varchar, review_cadence varchar, "
        "definition_version integer, is_current boolean)"
    )
    con.executemany(
        "insert into kpi.kpi_definitions values (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            ["revenue", "Net revenue", "VP Sales", "usd", "financial", "monthly", 1, False],
            ["revenue", "Net revenue", "VP Sales", "usd", "financial", "monthly", 2, True],
            [
                "sla_compliance_rate",
                "SLA compliance rate",
                "Head of Support",
                "ratio",
                "customer",
                "weekly",
                1,
                True,
            ],
        ],
    )
    con.execute(
        "create or replace table kpi.kpi_values (kpi_id varchar, grain varchar, "
        "period_start date, period_end date, is_complete boolean, dimension varchar, "
        "dimension_value varchar, value double, target double, status varchar)"
    )
    rows = []
    for i in range(1, complete_months + 2):
        complete = i <= complete_months
        status = REVENUE[i - 1] if complete else "red"
        value = {"green": 120.0, "amber": 97.0, "red": 80.0}[status]
        for dim, dim_value in (("all", "all"), ("region", "EMEA")):
            rows.append(
                [
                    "revenue",
                    "month",
                    _month(i),
                    _month(i + 1),
                    complete,
                    dim,
                    dim_value,
                    value,
                    100.0,
                    status,
                ]
            )
        # The same KPI at another grain than its cadence is not watched.
        rows.append(
            [
                "revenue",
                "day",
                _month(i),
                _month(i) + dt.timedelta(days=1),
                complete,
                "all",
                "all",
                1.0,
                100.0,
                "red",
            ]
        )
    weeks = min(len(SLA), complete_months)
    for i in range(1, weeks + 1):
        value = {"green": 0.95, "amber": 0.89, "red": 0.5}[SLA[i - 1]]
        rows.append(
            [
                "sla_compliance_rate",
                "week",
                _week(i),
                _week(i + 1),
                True,
                "all",
                "all",
                value,
                0.9,
                SLA[i - 1],
            ]
        )
    con.executemany("insert into kpi.kpi_values values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.close()


@pytest.fixture
def rules_file(tmp_path) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(
        "defaults:\n  statuses: [red]\n  raise_after: 2\n  clear_after: 2\n"
        "kpis:\n  sla_compliance_rate:\n    statuses: [red, amber]\n"
    )
    return path


def _materialize(warehouse: Path, rules: Path, run_no: int) -> dg.ExecuteInProcessResult:
    config = replace(OperationsConfig.from_env(), alert_rules_path=rules)
    return dg.materialize(
        [build_alerts_asset(config), build_notifications_asset(config)],
        resources={
            "warehouse": WarehouseResource(
                path=str(warehouse), published_path=str(warehouse.with_suffix(".pub"))
            )
        },
        instance=dg.DagsterInstance.ephemeral(),
        tags={"run_no": str(run_no)},
    )


def _alerts(warehouse: Path) -> list[dict]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return al.read_alerts(con)
    finally:
        con.close()


# --- the rules themselves -----------------------------------------------------------------


def _periods(statuses: list[str]) -> list[al.Period]:
    return [al.Period(_month(i), _month(i + 1), s) for i, s in enumerate(statuses, start=1)]


def test_red_for_n_periods_raises_and_m_greens_clear_with_hysteresis():
    episodes = al.evaluate_series(_periods(REVENUE), al.Rule(raise_after=2, clear_after=2))
    assert [
        (e.streak_start, e.raised.period_start, e.cleared and e.cleared.period_start)
        for e in episodes
    ] == [
        (_month(3), _month(RAISED_AT), _month(CLEARED_AT)),
        (_month(13), _month(RAISED_AGAIN_AT), None),
    ]
    first = episodes[0]
    # Raised at month 4, still alerting through the flap, cleared at month 10.
    assert first.periods_alerting == CLEARED_AT - RAISED_AT
    assert first.last.period_start == _month(CLEARED_AT)


def test_a_kpi_flapping_between_red_and_green_never_raises():
    flapping = ["red", "green"] * 6
    assert al.evaluate_series(_periods(flapping), al.Rule(raise_after=2, clear_after=2)) == []
    # With N = 1 it raises once and the flapping keeps it raised instead of spamming.
    episodes = al.evaluate_series(_periods(flapping), al.Rule(raise_after=1, clear_after=2))
    assert len(episodes) == 1 and episodes[0].is_open


def test_amber_counts_only_where_the_rule_watches_it():
    statuses = ["amber", "amber", "amber", "green", "green"]
    assert al.evaluate_series(_periods(statuses), al.Rule()) == []
    episodes = al.evaluate_series(_periods(statuses), al.Rule(statuses=frozenset({"red", "amber"})))
    assert episodes[0].raised.period_start == _month(2)
    assert episodes[0].cleared.period_start == _month(5)


def test_a_missing_period_breaks_a_streak():
    periods = _periods(["red", "red"])
    gap = [periods[0], al.Period(_month(3), _month(4), "red")]
    assert al.evaluate_series(gap, al.Rule()) == []
    assert len(al.evaluate_series(periods, al.Rule())) == 1


def test_rules_file_is_validated_with_a_message_naming_the_key(tmp_path):
    bad = tmp_path / "rules.yml"
    bad.write_text("defaults:\n  statuses: [green]\n")
    with pytest.raises(al.RulesError, match="defaults.statuses"):
        al.load_rules(bad)
    bad.write_text("kpis:\n  revenue:\n    raise_after: 0\n")
    with pytest.raises(al.RulesError, match="kpis.revenue.raise_after"):
        al.load_rules(bad)
    bad.write_text("kpis:\n  revenue:\n    raise_afer: 2\n")
    with pytest.raises(al.RulesError, match="unknown keys: raise_afer"):
        al.load_rules(bad)
    shipped = al.load_rules(OperationsConfig.from_env().alert_rules_path)
    assert shipped.default.raise_after >= 1 and shipped.default.clear_after >= 1


# --- runs, one more complete period each: raised, quiet through the flap, cleared ----------


def test_alerts_are_raised_and_cleared_at_the_right_runs_and_delivered(
    tmp_path, rules_file, channels
):
    receiver, mailbox = channels
    warehouse = tmp_path / "warehouse.duckdb"
    received_by_run: dict[int, list[tuple[str, str]]] = {}
    mails_by_run: dict[int, int] = {}
    for month in range(1, len(REVENUE) + 1):
        _write_warehouse(warehouse, complete_months=month)
        before_hooks, before_mails = len(receiver.bodies), len(mailbox.messages)
        result = _materialize(warehouse, rules_file, month)
        assert result.success
        checks = result.get_asset_check_evaluations()
        assert [c.passed for c in checks if c.check_name == DELIVERED_CHECK] == [True]
        received_by_run[month] = [(b["event"], b["kpi_id"]) for b in receiver.bodies[before_hooks:]]
        mails_by_run[month] = len(mailbox.messages) - before_mails

    revenue = {m: [e for e, k in events if k == "revenue"] for m, events in received_by_run.items()}
    assert {m: e for m, e in revenue.items() if e} == {
        RAISED_AT: ["kpi_alert_raised"],
        CLEARED_AT: ["kpi_alert_cleared"],
        RAISED_AGAIN_AT: ["kpi_alert_raised"],
    }
    # Weekly SLA (one more week completes per run too): raised at week 3, cleared at week 6.
    sla = {m: [e for e, k in ev if k == "sla_compliance_rate"] for m, ev in received_by_run.items()}
    assert {m: e for m, e in sla.items() if e} == {
        3: ["kpi_alert_raised"],
        6: ["kpi_alert_cleared"],
    }
    # One e-mail per run that had something to say, to every recipient.
    assert {m for m, n in mails_by_run.items() if n} == {3, RAISED_AT, 6, CLEARED_AT, 14}
    assert all(n == 1 for n in mails_by_run.values() if n)
    assert sorted(mailbox.envelopes[0].rcpt_tos) == ["ceo@example.test", "vp-sales@example.test"]

    raised = next(b for b in receiver.bodies if b["kpi_id"] == "revenue")
    assert raised["period_start"] == _month(RAISED_AT).isoformat()
    assert raised["dimension"] == "all" and raised["statuses"] == ["red"]
    assert raised["value"] == 80.0 and raised["target"] == 100.0
    assert "Net revenue (revenue) has been red for 2 consecutive months" in raised["text"]
    cleared_mails = [m.get_content() for m in mailbox.messages if "cleared" in m["Subject"]]
    assert len(cleared_mails) == 2
    assert "CLEARED: Net revenue (revenue) is back in green for 2" in cleared_mails[1]
    assert "as of 2025-10 (raised 2025-04)" in cleared_mails[1]

    # The stored history: both revenue episodes, with the periods that raised and cleared.
    history = [a for a in _alerts(warehouse) if a["kpi_id"] == "revenue"]
    assert [(a["state"], a["raised_period_start"], a["cleared_period_start"]) for a in history] == [
        ("cleared", _month(RAISED_AT), _month(CLEARED_AT)),
        ("open", _month(RAISED_AGAIN_AT), None),
    ]
    # Only the company level by default, only at the KPI's cadence.
    assert {(a["grain"], a["dimension"]) for a in _alerts(warehouse)} == {
        ("month", "all"),
        ("week", "all"),
    }
    con = duckdb.connect(str(warehouse), read_only=True)
    logged = con.execute(
        "select channel, count(*) from alerting.notifications group by 1 order by 1"
    ).fetchall()
    con.close()
    assert logged == [("email", 5), ("webhook", 5)]


def test_a_first_run_announces_open_alerts_not_history(tmp_path, rules_file, channels):
    receiver, mailbox = channels
    warehouse = tmp_path / "warehouse.duckdb"
    _write_warehouse(warehouse, complete_months=len(REVENUE))
    assert _materialize(warehouse, rules_file, 1).success
    # The revenue episode of months 4 to 10 is history; the one raised at month 14 is news.
    assert [(b["event"], b["kpi_id"], b["period_start"]) for b in receiver.bodies] == [
        ("kpi_alert_raised", "revenue", _month(RAISED_AGAIN_AT).isoformat())
    ]
    assert len(mailbox.messages) == 1
    assert _materialize(warehouse, rules_file, 2).success
    assert len(receiver.bodies) == 1 and len(mailbox.messages) == 1


def test_a_failed_delivery_warns_and_is_retried_on_the_next_run(tmp_path, rules_file, channels):
    receiver, mailbox = channels
    warehouse = tmp_path / "warehouse.duckdb"
    _write_warehouse(warehouse, complete_months=RAISED_AT)
    receiver.fail_next = 1
    result = _materialize(warehouse, rules_file, 1)
    assert result.success, "a channel that is down must not fail the published run"
    (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name == DELIVERED_CHECK]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "webhook answered HTTP 503; 2 notifications wait" in check.description
    assert "s3cret" not in check.description and "127.0.0.1" not in check.description
    assert receiver.bodies == [] and len(mailbox.messages) == 1

    result = _materialize(warehouse, rules_file, 2)
    assert sorted((b["event"], b["kpi_id"]) for b in receiver.bodies) == [
        ("kpi_alert_raised", "revenue"),
        ("kpi_alert_raised", "sla_compliance_rate"),
    ]
    assert len(mailbox.messages) == 1, "e-mail already went out and is not repeated"


def test_without_channels_nothing_is_sent_and_nothing_recorded(tmp_path, rules_file, monkeypatch):
    for name in CHANNEL_ENV:
        monkeypatch.delenv(name, raising=False)
    warehouse = tmp_path / "warehouse.duckdb"
    _write_warehouse(warehouse, complete_months=RAISED_AT)
    result = _materialize(warehouse, rules_file, 1)
    assert result.success
    con = duckdb.connect(str(warehouse), read_only=True)
    assert con.execute("select count(*) from alerting.notifications").fetchone()[0] == 0
    con.close()


# --- SMTP with STARTTLS and a login -------------------------------------------------------


def test_email_over_starttls_with_login(tmp_path, rules_file, monkeypatch, caplog):
    cert, key = self_signed_certificate(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        ok = auth_data.login == b"alerts" and auth_data.password == b"pa55-w0rd"
        # handled=False: the server itself answers 535 to a refused login.
        return AuthResult(success=ok, handled=False)

    box = Mailbox()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=_free_port(),
        tls_context=tls,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    controller.start()
    try:
        for name in CHANNEL_ENV:
            monkeypatch.delenv(name, raising=False)
        # The alert sender honours the private CA like the scorecard does.
        monkeypatch.setenv("KPI_SMTP_CA_FILE", str(cert))
        monkeypatch.setenv("KPI_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("KPI_SMTP_PORT", str(controller.port))
        monkeypatch.setenv("KPI_SMTP_FROM", "alerts@example.test")
        monkeypatch.setenv("KPI_SMTP_USER", "alerts")
        monkeypatch.setenv("KPI_SMTP_PASSWORD", "wrong")
        monkeypatch.setenv("KPI_ALERT_RECIPIENTS", "ops@example.test")
        warehouse = tmp_path / "warehouse.duckdb"
        _write_warehouse(warehouse, complete_months=RAISED_AT)

        result = _materialize(warehouse, rules_file, 1)
        (check,) = result.get_asset_check_evaluations()
        assert not check.passed and "refused the login" in check.description
        assert box.messages == []

        monkeypatch.setenv("KPI_SMTP_PASSWORD", "pa55-w0rd")
        result = _materialize(warehouse, rules_file, 2)
        (check,) = result.get_asset_check_evaluations()
        assert check.passed
        assert len(box.messages) == 1 and box.messages[0]["Subject"] == "KPI alerts: 2 raised"
        assert logins[-1] == (b"alerts", b"pa55-w0rd")
        assert "pa55-w0rd" not in caplog.text and "wrong" not in caplog.text
    finally:
        controller.stop()


def test_alert_mail_is_not_sent_to_a_server_without_starttls_when_a_login_is_set(
    tmp_path, rules_file, monkeypatch
):
    from tests import smtp_helpers

    for name in CHANNEL_ENV:
        monkeypatch.delenv(name, raising=False)
    warehouse = tmp_path / "warehouse.duckdb"
    _write_warehouse(warehouse, complete_months=RAISED_AT)
    with smtp_helpers.smtp_server(tmp_path, mode="plain") as (port, inbox, _):
        monkeypatch.setenv("KPI_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("KPI_SMTP_PORT", str(port))
        monkeypatch.setenv("KPI_SMTP_USER", smtp_helpers.USER)
        monkeypatch.setenv("KPI_SMTP_PASSWORD", smtp_helpers.PASSWORD)
        monkeypatch.setenv("KPI_SMTP_FROM", "alerts@example.test")
        monkeypatch.setenv("KPI_ALERT_RECIPIENTS", "ops@example.test")
        result = _materialize(warehouse, rules_file, 1)
    assert result.success, "a refused channel must not fail the published run"
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed
    assert check.description == (
        f"email: The SMTP server 127.0.0.1:{port} does not offer STARTTLS, so the credentials "
        "were not sent over an unencrypted connection; 2 notifications wait for the next run"
    )
    assert inbox.verbs == ["EHLO"] and inbox.logins == [] and inbox.messages == []


# --- a failed run notifies ----------------------------------------------------------------


def test_a_failed_run_is_notified_by_webhook_and_email(channels):
    receiver, mailbox = channels

    @dg.op
    def extract_orders():
        raise dg.Failure(
            description="Delivery file 2026-11-01.csv of sales.orders has no column order_id.",
            allow_retries=False,
        )

    @dg.job(name="kpi_pipeline_like")
    def failing():
        extract_orders()

    instance = dg.DagsterInstance.ephemeral()
    result = failing.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
    context = dg.build_run_status_sensor_context(
        sensor_name=FAILURE_SENSOR,
        dagster_event=failure,
        dagster_instance=instance,
        dagster_run=run,
    ).for_run_failure()
    config = replace(OperationsConfig.from_env(), ui_url="http://127.0.0.1:3000")
    build_failure_sensor(config)(context)

    (body,) = receiver.bodies
    assert body["event"] == "run_failed" and body["run_id"] == run.run_id
    assert body["error"] == ("Delivery file 2026-11-01.csv of sales.orders has no column order_id.")
    assert body["url"] == f"http://127.0.0.1:3000/runs/{run.run_id}"
    (mail,) = mailbox.messages
    assert mail["Subject"] == "KPI warehouse: run of kpi_pipeline_like failed"
    assert "has no column order_id" in mail.get_content()


# --- chat webhooks: Slack and Microsoft Teams ----------------------------------------------

REVENUE_TEXT = (
    "RAISED: Net revenue (revenue) has been red for 2 consecutive months up to 2025-04: "
    "$80.00 against a target of $100.00. Owner: VP Sales."
)
SLA_TEXT = (
    "RAISED: SLA compliance rate (sla_compliance_rate) has been amber or red for 2 "
    "consecutive weeks up to week of 2025-01-20: 50.0% against a target of 90.0%. "
    "Owner: Head of Support."
)


def test_slack_receives_exactly_a_text_message(tmp_path, rules_file, channels, monkeypatch):
    receiver, _ = channels
    monkeypatch.setenv("KPI_ALERT_WEBHOOK_FORMAT", "slack")
    warehouse = tmp_path / "warehouse.duckdb"
    _write_warehouse(warehouse, complete_months=RAISED_AT)
    assert _materialize(warehouse, rules_file, 1).success
    # What a Slack incoming webhook takes: {"text": ...}, nothing else.
    assert receiver.bodies == [{"text": SLA_TEXT}, {"text": REVENUE_TEXT}]
    # Slack reads <...> as links and mentions; data is escaped so it never becomes one.
    assert format_payload({"text": "<!channel> R&D <b>"}, "slack") == {
        "text": "&lt;!channel&gt; R&amp;D &lt;b&gt;"
    }


def test_teams_receives_an_adaptive_card_message(tmp_path, rules_file, channels, monkeypatch):
    receiver, _ = channels
    monkeypatch.setenv("KPI_ALERT_WEBHOOK_FORMAT", "teams")
    warehouse = tmp_path / "warehouse.duckdb"
    _write_warehouse(warehouse, complete_months=RAISED_AT)
    assert _materialize(warehouse, rules_file, 1).success
    assert len(receiver.bodies) == 2
    # The envelope a Teams Workflows webhook requires (classic incoming webhooks take it too).
    assert receiver.bodies[1] == {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.2",
                    "body": [
                        {
                            "type": "TextBlock",
                            "text": "KPI alert raised",
                            "weight": "Bolder",
                            "size": "Medium",
                            "wrap": True,
                        },
                        {"type": "TextBlock", "text": REVENUE_TEXT, "wrap": True},
                        {
                            "type": "FactSet",
                            "facts": [
                                {"title": "alert_id", "value": "revenue/month/all=all/2025-04-01"},
                                {"title": "kpi_id", "value": "revenue"},
                                {"title": "kpi_name", "value": "Net revenue"},
                                {"title": "owner", "value": "VP Sales"},
                                {"title": "grain", "value": "month"},
                                {"title": "dimension", "value": "all"},
                                {"title": "dimension_value", "value": "all"},
                                {"title": "period_start", "value": "2025-04-01"},
                                {"title": "raised_period_start", "value": "2025-04-01"},
                                {"title": "statuses", "value": "red"},
                                {"title": "value", "value": "80.0"},
                                {"title": "target", "value": "100.0"},
                            ],
                        },
                    ],
                },
            }
        ],
    }
    sla_card = receiver.bodies[0]["attachments"][0]["content"]
    assert sla_card["body"][1]["text"] == SLA_TEXT
    assert {"title": "statuses", "value": "amber, red"} in sla_card["body"][2]["facts"]


def test_a_failed_run_in_teams_links_to_the_run():
    payload = {
        "event": "run_failed",
        "text": "Run 1234abcd of kpi_pipeline failed.",
        "run_id": "1234abcd",
        "url": "http://127.0.0.1:3000/runs/1234abcd",
        "partition": None,
    }
    card = format_payload(payload, "teams")["attachments"][0]["content"]
    assert card["body"][0]["text"] == "KPI warehouse run failed"
    assert card["body"][2]["facts"] == [{"title": "run_id", "value": "1234abcd"}]
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open", "url": "http://127.0.0.1:3000/runs/1234abcd"}
    ]
    # The generic format is the payload as built: every field, unchanged.
    assert format_payload(payload, "generic") is payload


def test_the_webhook_format_follows_the_url_unless_set(monkeypatch):
    assert webhook_format_for("https://hooks.slack.com/services/T0/B0/xyz") == "slack"
    assert webhook_format_for("https://contoso.webhook.office.com/webhookb2/a/b") == "teams"
    assert (
        webhook_format_for("https://prod-12.westeurope.logic.azure.com:443/workflows/a/triggers")
        == "teams"
    )
    assert (
        webhook_format_for(
            "https://default1.a2.environment.api.powerplatform.com/powerautomate/automations/x"
        )
        == "teams"
    )
    assert webhook_format_for("https://hooks.slack.com.evil.example/x") == "generic"
    assert webhook_format_for("http://127.0.0.1:8080/hook") == "generic"

    monkeypatch.setenv("KPI_ALERT_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/xyz")
    monkeypatch.delenv("KPI_ALERT_WEBHOOK_FORMAT", raising=False)
    assert WebhookChannel.from_env().format == "slack"
    monkeypatch.setenv("KPI_ALERT_WEBHOOK_FORMAT", "generic")
    assert WebhookChannel.from_env().format == "generic"
    assert "xyz" not in repr(WebhookChannel.from_env())
    monkeypatch.setenv("KPI_ALERT_WEBHOOK_FORMAT", "discord")
    with pytest.raises(DeliveryFailed) as raised:
        WebhookChannel.from_env()
    assert str(raised.value) == (
        "KPI_ALERT_WEBHOOK_FORMAT must be one of auto, generic, slack, teams, not 'discord'"
    )


# --- the new-deliveries sensor ------------------------------------------------------------


def _settings(landing: Path, tmp_path: Path) -> Settings:
    return replace(
        Settings.from_env(),
        landing_dir=landing,
        warehouse_path=tmp_path / "wh.duckdb",
        published_path=tmp_path / "wh.published.duckdb",
    )


def _tick(sensor, instance, cursor):
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    return sensor.evaluate_tick(context)


def test_new_deliveries_start_a_run_once_they_have_settled(tmp_path):
    landing = tmp_path / "landing"
    orders = landing / "sales" / "orders"
    orders.mkdir(parents=True)
    config = replace(OperationsConfig.from_env(), delivery_settle_seconds=60)
    sensor = build_delivery_sensor(_settings(landing, tmp_path), config)
    instance = dg.DagsterInstance.ephemeral()

    result = _tick(sensor, instance, None)
    assert not result.run_requests and "no delivery files" in result.skip_message

    old = time.time() - 600
    (orders / "2026-10.csv").write_text("order_id\n1\n")
    os.utime(orders / "2026-10.csv", (old, old))
    (orders / "_SUCCESS").write_text("")
    result = _tick(sensor, instance, None)
    (request,) = result.run_requests
    cursor = result.cursor
    assert request.run_key == cursor == landing_fingerprint(landing).digest

    # Housekeeping files and other folders are not deliveries.
    (orders / ".2026-11.csv.swp").write_text("x")
    (landing / "notes.txt").write_text("x")
    result = _tick(sensor, instance, cursor)
    assert not result.run_requests and "No delivery file" in result.skip_message

    # A file still being written waits; once it is old enough, one run.
    (orders / "2026-11.csv").write_text("order_id\n2\n")
    result = _tick(sensor, instance, cursor)
    assert not result.run_requests and "waiting" in result.skip_message
    assert result.cursor in (None, cursor)
    os.utime(orders / "2026-11.csv", (old, old))
    result = _tick(sensor, instance, cursor)
    assert len(result.run_requests) == 1 and result.cursor != cursor

    # A changed file (same name, new size) is a new delivery too.
    cursor = result.cursor
    (orders / "2026-11.csv").write_text("order_id\n2\n3\n")
    os.utime(orders / "2026-11.csv", (old, old))
    assert len(_tick(sensor, instance, cursor).run_requests) == 1


# --- schedules and the UI instance ----------------------------------------------------------


def test_business_days():
    # November 2026 starts on a Sunday.
    assert business_day_of_month(date(2026, 11, 1)) is None
    assert [business_day_of_month(date(2026, 11, d)) for d in (2, 3, 4, 9)] == [1, 2, 3, 6]
    monthly = dg.MonthlyPartitionsDefinition(start_date="2024-01-01")
    assert scorecard_partition_key(monthly, date(2026, 10, 1)) == "2026-10-01"
    static = dg.StaticPartitionsDefinition(["2026-09", "2026-10"])
    assert scorecard_partition_key(static, date(2026, 10, 1)) == "2026-10"


def test_scorecard_schedule_runs_last_month_on_business_day_n(monkeypatch):
    monkeypatch.setenv("KPI_SCORECARD_BUSINESS_DAY", "3")
    monkeypatch.setenv("KPI_TIMEZONE", "Europe/Berlin")
    monthly = dg.MonthlyPartitionsDefinition(start_date="2024-01-01")

    @dg.asset(partitions_def=monthly)
    def scorecard():
        return None

    schedule = build_scorecard_schedule(OperationsConfig.from_env())
    defs = dg.Definitions(
        assets=[scorecard],
        jobs=[dg.define_asset_job(SCORECARD_JOB, selection=[scorecard])],
        schedules=[schedule],
    )
    repository = defs.get_repository_def()
    berlin = dt.timezone(dt.timedelta(hours=1))

    def tick(day: int):
        context = dg.build_schedule_context(
            scheduled_execution_time=datetime(2026, 11, day, 8, tzinfo=berlin),
            repository_def=repository,
        )
        return repository.get_schedule_def(schedule.name).evaluate_tick(context)

    assert not tick(3).run_requests
    (request,) = tick(4).run_requests
    assert request.partition_key == "2026-10-01"
    assert not tick(5).run_requests


def test_the_scorecard_schedule_waits_for_the_month_to_be_a_partition(monkeypatch):
    from orchestration.keys import MONTHLY, SCORECARD_MONTHS

    monkeypatch.setenv("KPI_SCORECARD_BUSINESS_DAY", "3")

    @dg.asset(partitions_def=MONTHLY)
    def scorecard():
        return None

    schedule = build_scorecard_schedule(OperationsConfig.from_env())
    defs = dg.Definitions(
        assets=[scorecard],
        jobs=[dg.define_asset_job(SCORECARD_JOB, selection=[scorecard])],
        schedules=[schedule],
    )
    repository = defs.get_repository_def()
    # A schedule context needs an instance with a home (a temporary one here).
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(SCORECARD_MONTHS, ["2026-09"])
        _scorecard_months_ticks(repository, schedule.name, instance)


def _scorecard_months_ticks(repository, schedule_name, instance):
    from orchestration.keys import SCORECARD_MONTHS

    def tick():
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=datetime(2026, 11, 4, 8, tzinfo=dt.timezone.utc),
            repository_def=repository,
        )
        return repository.get_schedule_def(schedule_name).evaluate_tick(context)

    # October is not complete in the published copy: no half month is mailed.
    waiting = tick()
    assert not waiting.run_requests
    assert "2026-10 is not complete" in waiting.skip_message
    instance.add_dynamic_partitions(SCORECARD_MONTHS, ["2026-10"])
    (request,) = tick().run_requests
    assert request.partition_key == "2026-10"


def test_the_ui_instance_queues_warehouse_runs_one_at_a_time(tmp_path):
    path, written = ensure_instance_config(tmp_path / "home")
    assert written and path.read_text() == INSTANCE_YAML
    instance = dg.DagsterInstance.from_config(str(tmp_path / "home"))
    try:
        queue = instance.get_concurrency_config().run_queue_config
        assert queue.max_concurrent_runs == 1
        assert [dict(limit) for limit in queue.tag_concurrency_limits] == [
            {"key": "kpi_warehouse/warehouse", "limit": 1}
        ]
    finally:
        instance.dispose()
    path.write_text("# mine\n")
    assert ensure_instance_config(tmp_path / "home") == (path, False)
    assert path.read_text() == "# mine\n"
