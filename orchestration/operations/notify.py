"""Delivering notifications: a JSON webhook and e-mail over SMTP.

Both are configured from the environment when a message is sent, so a changed secret
takes effect without reloading the definitions. The webhook URL (chat webhooks carry
their token in it), the SMTP user and password never appear in a log line or an error
message: errors name the channel and what went wrong, not where it was going.
"""

from __future__ import annotations

import json
import os
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

TIMEOUT_SECONDS = 15


class DeliveryFailed(Exception):
    """A channel did not take a message; the text is safe to log."""


def _flag(name: str) -> bool:
    return (os.environ.get(name) or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class WebhookChannel:
    url: str

    name = "webhook"

    @classmethod
    def from_env(cls) -> WebhookChannel | None:
        url = (os.environ.get("KPI_ALERT_WEBHOOK_URL") or "").strip()
        return cls(url) if url else None

    def __repr__(self) -> str:
        return "WebhookChannel(url=<hidden>)"

    def send(self, payload: dict) -> None:
        request = urllib.request.Request(
            self.url,
            data=json.dumps(payload, default=str).encode(),
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
    host: str
    port: int
    starttls: bool
    user: str | None
    password: str | None
    sender: str
    recipients: tuple[str, ...]

    name = "email"

    @classmethod
    def from_env(cls) -> EmailChannel | None:
        host = (os.environ.get("KPI_SMTP_HOST") or "").strip()
        listed = (os.environ.get("KPI_ALERT_RECIPIENTS") or "").split(",")
        recipients = tuple(r.strip() for r in listed if r.strip())
        if not host or not recipients:
            return None
        port_raw = os.environ.get("KPI_SMTP_PORT") or "25"
        try:
            port = int(port_raw)
        except ValueError:
            raise DeliveryFailed(f"KPI_SMTP_PORT={port_raw!r} is not a port number") from None
        return cls(
            host=host,
            port=port,
            starttls=_flag("KPI_SMTP_STARTTLS"),
            user=os.environ.get("KPI_SMTP_USER") or None,
            password=os.environ.get("KPI_SMTP_PASSWORD") or None,
            sender=os.environ.get("KPI_SMTP_FROM") or "kpi-warehouse@localhost",
            recipients=recipients,
        )

    def __repr__(self) -> str:
        return (
            f"EmailChannel(host={self.host!r}, port={self.port}, starttls={self.starttls}, "
            f"recipients={len(self.recipients)})"
        )

    def send(self, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain="kpi-warehouse")
        message.set_content(body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=TIMEOUT_SECONDS) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    try:
                        smtp.login(self.user, self.password or "")
                    except smtplib.SMTPException:
                        # Some servers hang up on a bad login rather than answer 535.
                        raise DeliveryFailed("the SMTP server refused the login") from None
                smtp.send_message(message)
        except smtplib.SMTPException as exc:
            reason = type(exc).__name__
            raise DeliveryFailed(f"the SMTP server refused the message ({reason})") from None
        except OSError as exc:
            reason = type(exc).__name__
            raise DeliveryFailed(f"the SMTP server could not be reached ({reason})") from None


def configured_channels() -> list[WebhookChannel | EmailChannel]:
    return [c for c in (WebhookChannel.from_env(), EmailChannel.from_env()) if c is not None]
