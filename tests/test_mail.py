"""One SMTP client for alerts and scorecards, against a real SMTP server on loopback.

Both senders are exercised as they run in production: the alert e-mail channel reads
its settings from the environment, the scorecard's ``send_message`` takes the settings
the command line reads. Every server is aiosmtpd on 127.0.0.1 at an ephemeral port and
records the commands it received, so "no AUTH was sent" is what the server saw.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage

import pytest

from orchestration.operations.notify import DeliveryFailed, EmailChannel
from reports import delivery
from reports.mail import MailError, SmtpSettings, _login, send
from tests.smtp_helpers import PASSWORD, USER, smtp_server

SMTP_ENV = (
    "KPI_SMTP_HOST",
    "KPI_SMTP_PORT",
    "KPI_SMTP_STARTTLS",
    "KPI_SMTP_SSL",
    "KPI_SMTP_USER",
    "KPI_SMTP_PASSWORD",
    "KPI_SMTP_FROM",
    "KPI_SMTP_CA_FILE",
    "KPI_SMTP_TIMEOUT",
    "KPI_ALERT_RECIPIENTS",
    "KPI_REPORT_RECIPIENTS",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in SMTP_ENV:
        monkeypatch.delenv(name, raising=False)


def _env(port: int, ca_file=None, **extra: str) -> dict[str, str]:
    env = {
        "KPI_SMTP_HOST": "127.0.0.1",
        "KPI_SMTP_PORT": str(port),
        "KPI_SMTP_USER": USER,
        "KPI_SMTP_PASSWORD": PASSWORD,
        "KPI_SMTP_FROM": "kpi@example.test",
        "KPI_ALERT_RECIPIENTS": "ops@example.test",
        "KPI_REPORT_RECIPIENTS": "cfo@example.test, Board <board@example.test>",
    }
    if ca_file is not None:
        env["KPI_SMTP_CA_FILE"] = str(ca_file)
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def _send_alert(env: dict[str, str], monkeypatch) -> None:
    """The alert path: the e-mail channel as the alert asset and failure sensor use it."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    channel = EmailChannel.from_env()
    assert channel is not None
    channel.send("KPI alerts: 1 raised", "RAISED: Net revenue has been red for 2 months.")


def _send_scorecard(env: dict[str, str], monkeypatch) -> None:
    """The scorecard path: the settings the command line reads, sent by ``delivery``."""
    settings = SmtpSettings.from_env(env)
    message = EmailMessage()
    message["Subject"] = "KPI scorecard 2026-10"
    message["To"] = ", ".join(settings.recipients)
    message.set_content("3 on track, 1 at risk, 1 off track.")
    delivery.send_message(message, settings)


PATHS = {"alerts": (_send_alert, DeliveryFailed), "scorecard": (_send_scorecard, MailError)}


# --- (c) defaults ---------------------------------------------------------------------------


def test_defaults_are_starttls_on_port_587(monkeypatch):
    settings = SmtpSettings.from_env({"KPI_SMTP_HOST": "smtp.example.com"})
    assert (settings.port, settings.starttls, settings.use_ssl) == (587, True, False)
    assert settings.timeout == 30.0 and settings.ca_file is None

    implicit = SmtpSettings.from_env({"KPI_SMTP_HOST": "smtp.example.com", "KPI_SMTP_SSL": "1"})
    assert (implicit.port, implicit.starttls, implicit.use_ssl) == (465, False, True)

    # The alert channel reads the same settings: it used to default to port 25 in the clear.
    monkeypatch.setenv("KPI_SMTP_HOST", "smtp.example.com")
    monkeypatch.setenv("KPI_ALERT_RECIPIENTS", "ops@example.test")
    channel = EmailChannel.from_env()
    assert (channel.settings.port, channel.settings.starttls) == (587, True)
    assert channel.settings.recipients == ("ops@example.test",)
    assert SmtpSettings.from_env({}) is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KPI_SMTP_STARTTLS": "maybe"}, "KPI_SMTP_STARTTLS must be true or false, not 'maybe'."),
        ({"KPI_SMTP_SSL": "sure"}, "KPI_SMTP_SSL must be true or false, not 'sure'."),
        ({"KPI_SMTP_PORT": "smtp"}, "KPI_SMTP_PORT must be a port number, not 'smtp'."),
        ({"KPI_SMTP_PORT": "70000"}, "KPI_SMTP_PORT must be a port number, not '70000'."),
        (
            {"KPI_SMTP_TIMEOUT": "0"},
            "KPI_SMTP_TIMEOUT must be a positive number of seconds, not '0'.",
        ),
    ],
)
def test_bad_settings_are_one_sentence(env, message):
    with pytest.raises(MailError) as raised:
        SmtpSettings.from_env({"KPI_SMTP_HOST": "smtp.example.com", **env})
    assert str(raised.value) == message


def test_the_sender_defaults_to_the_user_only_when_it_is_an_address():
    base = {"KPI_SMTP_HOST": "smtp.example.com", "KPI_REPORT_RECIPIENTS": "a@example.test"}
    as_address = SmtpSettings.from_env({**base, "KPI_SMTP_USER": "reports@example.test"})
    assert as_address.sender == "reports@example.test"
    as_name = SmtpSettings.from_env({**base, "KPI_SMTP_USER": "reports"})
    with pytest.raises(MailError, match=r"^Set KPI_SMTP_FROM to the sender's email address\.$"):
        as_name.check()


# --- (a) STARTTLS offered, credentials set -----------------------------------------------


@pytest.mark.parametrize("path", sorted(PATHS))
def test_credentials_go_only_after_starttls_and_the_mail_arrives(
    path, tmp_path, monkeypatch, caplog
):
    sender, _ = PATHS[path]
    with (
        smtp_server(tmp_path, mode="starttls") as (port, inbox, ca_file),
        caplog.at_level(logging.DEBUG),
    ):
        sender(_env(port, ca_file), monkeypatch)
    assert inbox.commands == [
        ("EHLO", False),
        ("STARTTLS", False),
        ("EHLO", True),
        ("AUTH", True),
        ("MAIL", True),
    ]
    assert inbox.logins == [(USER.encode(), PASSWORD.encode())]
    (envelope,) = inbox.envelopes
    assert envelope.mail_from == "kpi@example.test"
    reports_to = ["board@example.test", "cfo@example.test"]
    assert sorted(envelope.rcpt_tos) == (["ops@example.test"] if path == "alerts" else reports_to)
    assert inbox.messages[0]["From"] == "kpi@example.test"
    assert PASSWORD not in caplog.text


@pytest.mark.parametrize("path", sorted(PATHS))
def test_implicit_tls_is_honoured(path, tmp_path, monkeypatch):
    sender, _ = PATHS[path]
    with smtp_server(tmp_path, mode="ssl") as (port, inbox, ca_file):
        sender(_env(port, ca_file, KPI_SMTP_SSL="true"), monkeypatch)
    assert inbox.commands == [("EHLO", True), ("AUTH", True), ("MAIL", True)]
    assert len(inbox.messages) == 1


@pytest.mark.parametrize("path", sorted(PATHS))
def test_an_unknown_certificate_is_refused_naming_the_ca_setting(path, tmp_path, monkeypatch):
    sender, error = PATHS[path]
    with smtp_server(tmp_path, mode="starttls") as (port, inbox, _), pytest.raises(error) as raised:
        sender(_env(port), monkeypatch)
    assert "could not be verified" in str(raised.value)
    assert "KPI_SMTP_CA_FILE" in str(raised.value)
    assert "AUTH" not in inbox.verbs and inbox.messages == []


# --- (b) no STARTTLS offered while credentials are set ------------------------------------


@pytest.mark.parametrize("path", sorted(PATHS))
def test_no_starttls_offered_with_credentials_is_refused_before_auth(path, tmp_path, monkeypatch):
    sender, error = PATHS[path]
    with smtp_server(tmp_path, mode="plain") as (port, inbox, _), pytest.raises(error) as raised:
        sender(_env(port), monkeypatch)
    assert str(raised.value).rstrip(".") == (
        f"The SMTP server 127.0.0.1:{port} does not offer STARTTLS, so the credentials "
        "were not sent over an unencrypted connection"
    )
    # The server would have taken AUTH in the clear: only the client kept it back.
    assert inbox.verbs == ["EHLO"] and inbox.logins == [] and inbox.messages == []


@pytest.mark.parametrize("path", sorted(PATHS))
def test_credentials_with_starttls_switched_off_are_refused_before_connecting(
    path, tmp_path, monkeypatch
):
    sender, error = PATHS[path]
    with smtp_server(tmp_path, mode="plain") as (port, inbox, _), pytest.raises(error) as raised:
        sender(_env(port, KPI_SMTP_STARTTLS="false"), monkeypatch)
    assert str(raised.value).rstrip(".") == (
        f"Refusing to send SMTP credentials to 127.0.0.1:{port} without encryption; "
        "enable KPI_SMTP_STARTTLS or KPI_SMTP_SSL"
    )
    assert inbox.commands == []


def test_plain_smtp_needs_starttls_switched_off_and_no_credentials(tmp_path, monkeypatch):
    with smtp_server(tmp_path, mode="plain") as (port, inbox, _):
        no_login = _env(port, KPI_SMTP_USER="", KPI_SMTP_PASSWORD="")
        # STARTTLS is on unless switched off: a server without it gets nothing.
        with pytest.raises(DeliveryFailed, match="does not offer STARTTLS; set KPI_SMTP_STARTTLS"):
            _send_alert(no_login, monkeypatch)
        assert "MAIL" not in inbox.verbs
        _send_alert({**no_login, "KPI_SMTP_STARTTLS": "false"}, monkeypatch)
    assert inbox.verbs == ["EHLO", "EHLO", "MAIL"] and len(inbox.messages) == 1


def test_login_refuses_an_unencrypted_connection_whatever_the_settings_say(tmp_path):
    import smtplib

    settings = SmtpSettings(host="127.0.0.1", user=USER, password=PASSWORD, sender="a@b.test")
    with (
        smtp_server(tmp_path, mode="plain") as (port, inbox, _),
        smtplib.SMTP("127.0.0.1", port, timeout=10) as client,
    ):
        client.ehlo()
        with pytest.raises(MailError, match="without encryption"):
            _login(client, settings)
    assert "AUTH" not in inbox.verbs


def test_a_wrong_password_is_one_sentence_without_the_password(tmp_path):
    with smtp_server(tmp_path, mode="starttls") as (port, inbox, ca_file):
        settings = SmtpSettings.from_env(_env(port, ca_file, KPI_SMTP_PASSWORD="not-it"))
        message = EmailMessage()
        message["Subject"] = "x"
        message.set_content("x")
        with pytest.raises(MailError) as raised:
            send(message, settings)
    assert str(raised.value) == f"The SMTP server 127.0.0.1:{port} refused the login of {USER}."
    assert "not-it" not in repr(settings) and inbox.messages == []
