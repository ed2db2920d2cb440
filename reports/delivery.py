"""Email delivery of a scorecard, through the one SMTP client in ``reports.mail``.

The SMTP settings (``KPI_SMTP_*``) and the rules for credentials are documented there.
The full scorecard goes to the executive list, an owner's scorecard to that owner's
addresses; both come from the owners file (``reports.owners``), and
``KPI_REPORT_RECIPIENTS`` (comma-separated), when set, is the executive list.
"""

from __future__ import annotations

from dataclasses import replace
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING

from reports.mail import MailError, SmtpSettings, send
from reports.owners import OwnerDirectory, load_owners

if TYPE_CHECKING:
    from reports.model import Scorecard

# The name callers have always caught; the same class as ``MailError``.
DeliveryError = MailError

__all__ = [
    "DeliveryError",
    "SmtpSettings",
    "build_message",
    "send_message",
    "send_scorecard",
    "settings_for",
]


def settings_for(
    owner: str | None,
    directory: OwnerDirectory | None = None,
    env=None,
) -> SmtpSettings | None:
    """The SMTP settings addressed to ``owner``'s people, or to the executives for None.

    None when SMTP is not configured; ``MailError`` when nobody is mapped to receive it.
    """
    settings = SmtpSettings.from_env(env)
    if settings is None:
        return None
    directory = directory if directory is not None else load_owners(env=env)
    where = directory.source or "the owners file (KPI_OWNERS_FILE)"
    if owner is None:
        recipients = directory.executives
        if not recipients:
            raise MailError(f"Set KPI_REPORT_RECIPIENTS or list the executives in {where}.")
    else:
        recipients = directory.addresses(owner)
        if not recipients:
            raise MailError(f"No e-mail address is set for the owner '{owner}' in {where}.")
    return replace(settings, recipients=recipients)


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
    send(message, settings)


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
