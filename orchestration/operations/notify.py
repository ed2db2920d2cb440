"""Delivering notifications: a JSON webhook (generic, Slack or Teams) and e-mail.

Both are configured from the environment when a message is sent, so a changed secret
takes effect without reloading the definitions. The webhook URL (chat webhooks carry
their token in it), the SMTP user and password never appear in a log line or an error
message: webhook errors name the channel and what went wrong, not where it was going.

E-mail goes through ``reports.mail``, the same SMTP client and settings as the scorecard
(STARTTLS by default, credentials never sent unencrypted), to ``KPI_ALERT_RECIPIENTS``.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from reports.mail import ALERT_RECIPIENTS, MailError, SmtpSettings
from reports.mail import send as send_mail

TIMEOUT_SECONDS = 15

# What the webhook receives: the payload as built (``generic``), ``{"text": ...}`` for a
# Slack incoming webhook, or an Adaptive Card message for Microsoft Teams (both a Teams
# Workflows "when a webhook request is received" flow and a classic incoming webhook
# connector accept it; Workflows accept nothing else).
WEBHOOK_FORMATS = ("auto", "generic", "slack", "teams")


class DeliveryFailed(Exception):
    """A channel did not take a message; the text is safe to log."""


def webhook_format_for(url: str) -> str:
    """The format ``auto`` picks from the webhook's host: Slack, Teams, else generic."""
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    if host == "hooks.slack.com":
        return "slack"
    teams_hosts = ("webhook.office.com", "logic.azure.com", "api.powerplatform.com")
    if any(host == h or host.endswith("." + h) for h in teams_hosts):
        return "teams"
    return "generic"


def _slack_escape(text: str) -> str:
    # Slack reads <...> as links and mentions; data must not become one.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _fact_value(value: object) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


TEAMS_TITLES = {
    "kpi_alert_raised": "KPI alert raised",
    "kpi_alert_cleared": "KPI alert cleared",
    "run_failed": "KPI warehouse run failed",
}


def format_payload(payload: dict, fmt: str) -> dict:
    """The JSON body for a webhook of format ``fmt`` (not ``auto``)."""
    if fmt == "generic":
        return payload
    text = str(payload.get("text", ""))
    if fmt == "slack":
        return {"text": _slack_escape(text)}
    if fmt != "teams":
        raise DeliveryFailed(f"unknown webhook format {fmt!r}")
    event = str(payload.get("event", ""))
    facts = [
        {"title": key, "value": _fact_value(value)}
        for key, value in payload.items()
        if key not in ("event", "text", "url") and value is not None
    ]
    body: list[dict] = [
        {
            "type": "TextBlock",
            "text": TEAMS_TITLES.get(event, "KPI warehouse"),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
        },
        {"type": "TextBlock", "text": text, "wrap": True},
    ]
    if facts:
        body.append({"type": "FactSet", "facts": facts})
    card: dict = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        # 1.2 renders in every Teams client, desktop and mobile.
        "version": "1.2",
        "body": body,
    }
    if payload.get("url"):
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open", "url": payload["url"]}]
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


@dataclass(frozen=True)
class WebhookChannel:
    url: str
    format: str = "generic"

    name = "webhook"

    @classmethod
    def from_env(cls) -> WebhookChannel | None:
        url = (os.environ.get("KPI_ALERT_WEBHOOK_URL") or "").strip()
        if not url:
            return None
        fmt = (os.environ.get("KPI_ALERT_WEBHOOK_FORMAT") or "auto").strip().lower()
        if fmt not in WEBHOOK_FORMATS:
            raise DeliveryFailed(
                f"KPI_ALERT_WEBHOOK_FORMAT must be one of {', '.join(WEBHOOK_FORMATS)}, not {fmt!r}"
            )
        return cls(url, webhook_format_for(url) if fmt == "auto" else fmt)

    def __repr__(self) -> str:
        return f"WebhookChannel(url=<hidden>, format={self.format!r})"

    def send(self, payload: dict) -> None:
        request = urllib.request.Request(
            self.url,
            data=json.dumps(format_payload(payload, self.format), default=str).encode(),
            headers={"Content-Type": "application/json", "User-Agent": "kpi-warehouse"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise DeliveryFailed(f"the webhook answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryFailed(
                f"the webhook could not be reached ({type(reason).__name__})"
            ) from None


@dataclass(frozen=True)
class EmailChannel:
    settings: SmtpSettings

    name = "email"

    @classmethod
    def from_env(cls) -> EmailChannel | None:
        try:
            settings = SmtpSettings.from_env(recipients_var=ALERT_RECIPIENTS)
        except MailError as exc:
            raise DeliveryFailed(str(exc).rstrip(".")) from None
        if settings is None or not settings.recipients:
            return None
        return cls(settings)

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"EmailChannel(host={s.host!r}, port={s.port}, starttls={s.starttls}, "
            f"ssl={s.use_ssl}, recipients={len(s.recipients)})"
        )

    def send(self, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = ", ".join(self.settings.recipients)
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = make_msgid(domain="kpi-warehouse")
        message.set_content(body)
        try:
            send_mail(message, self.settings)
        except MailError as exc:
            raise DeliveryFailed(str(exc).rstrip(".")) from None


def configured_channels() -> list[WebhookChannel | EmailChannel]:
    return [c for c in (WebhookChannel.from_env(), EmailChannel.from_env()) if c is not None]
