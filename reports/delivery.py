"""Email delivery of a scorecard over SMTP, configured from the environment.

| variable | meaning |
| --- | --- |
| ``KPI_SMTP_HOST`` | the SMTP server; unset means email is not configured |
| ``KPI_SMTP_PORT`` | default 587 (465 with ``KPI_SMTP_SSL``) |
| ``KPI_SMTP_STARTTLS`` | ``true`` (default) or ``false`` for a trusted local relay |
| ``KPI_SMTP_SSL`` | ``true`` for implicit TLS (port 465) instead of STARTTLS |
| ``KPI_SMTP_USER`` / ``KPI_SMTP_PASSWORD`` | credentials, if the server wants them |
| ``KPI_SMTP_FROM`` | the sender address (default ``KPI_SMTP_USER``) |
| ``KPI_REPORT_RECIPIENTS`` | comma-separated recipients |
| ``KPI_SMTP_CA_FILE`` | a CA bundle for a server with a private certificate |

The password is held out of ``repr`` and never logged; credentials are refused over a
connection that is neither encrypted nor on this machine.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reports.scorecard import Scorecard

LOGGER = logging.getLogger(__name__)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


class DeliveryError(Exception):
    """The scorecard could not be emailed; the message says why in one sentence."""


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = (env.get(name) or "").strip().lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise DeliveryError(f"{name} must be true or false, not '{value}'.")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    starttls: bool
    use_ssl: bool
    user: str | None
    password: str | None = field(repr=False)
    sender: str
    recipients: tuple[str, ...]
    ca_file: str | None = None
    timeout: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SmtpSettings | None:
        """The settings, or None when ``KPI_SMTP_HOST`` is not set."""
        env = os.environ if env is None else env
        host = (env.get("KPI_SMTP_HOST") or "").strip()
        if not host:
            return None
        use_ssl = _flag(env, "KPI_SMTP_SSL", False)
        try:
            port = int(env.get("KPI_SMTP_PORT") or (465 if use_ssl else 587))
        except ValueError:
            raise DeliveryError("KPI_SMTP_PORT must be a port number.") from None
        user = (env.get("KPI_SMTP_USER") or "").strip() or None
        sender = (env.get("KPI_SMTP_FROM") or "").strip() or user or ""
        recipients = tuple(
            address
            for _, address in getaddresses([env.get("KPI_REPORT_RECIPIENTS") or ""])
            if address and "@" in address
        )
        return cls(
            host=host,
            port=port,
            starttls=_flag(env, "KPI_SMTP_STARTTLS", not use_ssl) and not use_ssl,
            use_ssl=use_ssl,
            user=user,
            password=env.get("KPI_SMTP_PASSWORD") or None,
            sender=sender,
            recipients=recipients,
            ca_file=(env.get("KPI_SMTP_CA_FILE") or "").strip() or None,
        )

    def check(self) -> None:
        if not self.sender or "@" not in self.sender:
            raise DeliveryError("Set KPI_SMTP_FROM to the sender's email address.")
        if not self.recipients:
            raise DeliveryError("Set KPI_REPORT_RECIPIENTS to at least one email address.")
        encrypted = self.starttls or self.use_ssl
        if self.user and not encrypted and self.host not in _LOOPBACK:
            raise DeliveryError(
                f"Refusing to send SMTP credentials to {self.host} without encryption; "
                "enable KPI_SMTP_STARTTLS or KPI_SMTP_SSL."
            )


def _one_line(text: str) -> str:
    # Header values must not carry line breaks (header injection); source text is data.
    return " ".join(str(text).split())


def summary_text(scorecard: Scorecard, pdf_name: str, sha256: str, pages: int) -> str:
    """The plain-text body: the headline numbers, what is off track, what to open."""
    counts = scorecard.status_counts
    lines = [
        f"KPI scorecard for {scorecard.month_label}"
        + (f", KPIs owned by {_one_line(scorecard.owner)}" if scorecard.owner else "")
        + f" (data as of {scorecard.as_of.isoformat()}"
        + ("" if scorecard.is_complete else "; the month is not complete, numbers are provisional")
        + ").",
        "",
        f"{counts['green']} on track, {counts['amber']} at risk, {counts['red']} off track"
        + (
            f", {counts['no_target'] + counts['no_data']} without target or data"
            if counts["no_target"] + counts["no_data"]
            else ""
        )
        + ".",
    ]
    red = [k for k in scorecard.kpis if k.status.code == "red"]
    if red:
        lines += ["", "Off track:"]
        for kpi in red:
            note = " (commentary missing)" if kpi.commentary_missing else ""
            streak = f", {kpi.red_streak} months in a row" if kpi.red_streak >= 2 else ""
            lines.append(
                f"- {_one_line(kpi.name)}: {kpi.value_text} against {kpi.target_text} "
                f"({kpi.variance_text}){streak}; owner {_one_line(kpi.owner)}{note}"
            )
    if scorecard.deteriorations:
        worst = scorecard.deteriorations[0]
        lines += [
            "",
            f"Largest deterioration: {_one_line(worst.kpi.name)}, {worst.before_text} -> "
            f"{worst.after_text} ({worst.change_text}).",
        ]
    if scorecard.provisional_kpis:
        names = ", ".join(_one_line(k.name) for k in scorecard.provisional_kpis)
        lines += ["", f"Provisional (a data-quality check warned or failed): {names}."]
    lines += [
        "",
        f"The full scorecard is attached: {pdf_name} ({pages} pages, SHA-256 {sha256}).",
    ]
    return "\n".join(lines) + "\n"


def build_message(
    scorecard: Scorecard, pdf_path: Path, settings: SmtpSettings, sha256: str, pages: int
) -> EmailMessage:
    pdf_path = Path(pdf_path)
    message = EmailMessage()
    subject = f"KPI scorecard {scorecard.month_label}"
    if scorecard.owner:
        subject += f" - {_one_line(scorecard.owner)[:80]}"
    counts = scorecard.status_counts
    subject += f": {counts['red']} off track, {counts['amber']} at risk"
    message["Subject"] = subject
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.recipients)
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or None)
    message.set_content(summary_text(scorecard, pdf_path.name, sha256, pages))
    message.add_attachment(
        pdf_path.read_bytes(), maintype="application", subtype="pdf", filename=pdf_path.name
    )
    return message


def send_message(message: EmailMessage, settings: SmtpSettings) -> None:
    settings.check()
    context = ssl.create_default_context(cafile=settings.ca_file)
    where = f"{settings.host}:{settings.port}"
    try:
        if settings.use_ssl:
            client = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=context
            )
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with client:
            client.ehlo()
            if settings.starttls:
                if not client.has_extn("starttls"):
                    raise DeliveryError(
                        f"The SMTP server {where} does not offer STARTTLS; set "
                        "KPI_SMTP_STARTTLS=false only for a trusted local relay."
                    )
                client.starttls(context=context)
                client.ehlo()
            if settings.user:
                client.login(settings.user, settings.password or "")
            refused = client.send_message(message, settings.sender, list(settings.recipients))
    except DeliveryError:
        raise
    except smtplib.SMTPAuthenticationError:
        raise DeliveryError(
            f"The SMTP server {where} rejected the credentials of {settings.user}."
        ) from None
    except smtplib.SMTPRecipientsRefused:
        raise DeliveryError(f"The SMTP server {where} refused every recipient.") from None
    except (smtplib.SMTPException, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DeliveryError(f"Sending the scorecard through {where} failed: {reason}") from None
    if refused:
        LOGGER.warning("SMTP server %s refused %s", where, ", ".join(sorted(refused)))
    LOGGER.info(
        "scorecard emailed through %s to %d recipient(s)",
        where,
        len(settings.recipients) - len(refused),
    )


def send_scorecard(
    scorecard: Scorecard,
    pdf_path: Path,
    sha256: str,
    pages: int,
    settings: SmtpSettings | None = None,
) -> SmtpSettings:
    """Email ``pdf_path`` with a text summary; the settings used."""
    settings = settings or SmtpSettings.from_env()
    if settings is None:
        raise DeliveryError("Email is not configured: set KPI_SMTP_HOST and KPI_REPORT_RECIPIENTS.")
    send_message(build_message(scorecard, pdf_path, settings, sha256, pages), settings)
    return settings
