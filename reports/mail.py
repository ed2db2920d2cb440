"""The one way mail leaves the warehouse: SMTP settings from the environment, and ``send``.

Scorecards and alerts both go through here, so both follow the same rules:

| variable | meaning |
| --- | --- |
| ``KPI_SMTP_HOST`` | the SMTP server; unset means email is not configured |
| ``KPI_SMTP_PORT`` | default 587 (465 with ``KPI_SMTP_SSL``) |
| ``KPI_SMTP_STARTTLS`` | ``true`` (default); ``false`` only for a relay that needs no login |
| ``KPI_SMTP_SSL`` | ``true`` for implicit TLS (port 465) instead of STARTTLS |
| ``KPI_SMTP_USER`` / ``KPI_SMTP_PASSWORD`` | credentials, if the server wants them |
| ``KPI_SMTP_FROM`` | the sender address (default ``KPI_SMTP_USER`` if it is an address) |
| ``KPI_SMTP_CA_FILE`` | a CA bundle for a server with a private certificate |
| ``KPI_SMTP_TIMEOUT`` | seconds to wait for the server (default 30) |

Recipients depend on what is sent (``KPI_REPORT_RECIPIENTS`` for the scorecard,
``KPI_ALERT_RECIPIENTS`` for alerts); the caller names the variable.

Credentials are only ever sent over an encrypted connection: with ``KPI_SMTP_USER`` set,
plain SMTP is refused before connecting, and a server that does not offer STARTTLS is
refused before any AUTH. The password is held out of ``repr`` and never logged, and the
SMTP conversation is never traced (smtplib's debug output would carry the AUTH line).

This module imports neither Dagster nor the orchestration package: it is a library.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import getaddresses

LOGGER = logging.getLogger(__name__)

REPORT_RECIPIENTS = "KPI_REPORT_RECIPIENTS"
ALERT_RECIPIENTS = "KPI_ALERT_RECIPIENTS"
DEFAULT_PORT = 587
DEFAULT_SSL_PORT = 465
DEFAULT_TIMEOUT = 30.0

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class MailError(Exception):
    """Mail could not be sent or is misconfigured; the message says why in one sentence."""


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = (env.get(name) or "").strip().lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise MailError(f"{name} must be true or false, not '{value}'.")


def parse_recipients(raw: str | None) -> tuple[str, ...]:
    """Addresses from a comma-separated list; ``Name <a@b>`` forms are accepted."""
    return tuple(address for _, address in getaddresses([raw or ""]) if address and "@" in address)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = DEFAULT_PORT
    starttls: bool = True
    use_ssl: bool = False
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = ""
    recipients: tuple[str, ...] = ()
    ca_file: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    # Which variable the recipients came from, so a missing one is named in the error.
    recipients_var: str = field(default=REPORT_RECIPIENTS, repr=False, compare=False)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, recipients_var: str = REPORT_RECIPIENTS
    ) -> SmtpSettings | None:
        """The settings, or None when ``KPI_SMTP_HOST`` is not set."""
        env = os.environ if env is None else env
        host = (env.get("KPI_SMTP_HOST") or "").strip()
        if not host:
            return None
        use_ssl = _flag(env, "KPI_SMTP_SSL", False)
        raw_port = (env.get("KPI_SMTP_PORT") or "").strip()
        try:
            port = int(raw_port) if raw_port else (DEFAULT_SSL_PORT if use_ssl else DEFAULT_PORT)
        except ValueError:
            raise MailError(f"KPI_SMTP_PORT must be a port number, not '{raw_port}'.") from None
        if not 0 < port < 65536:
            raise MailError(f"KPI_SMTP_PORT must be a port number, not '{raw_port}'.")
        raw_timeout = (env.get("KPI_SMTP_TIMEOUT") or "").strip()
        try:
            timeout = float(raw_timeout) if raw_timeout else DEFAULT_TIMEOUT
        except ValueError:
            timeout = -1.0
        if not timeout > 0:
            raise MailError(
                f"KPI_SMTP_TIMEOUT must be a positive number of seconds, not '{raw_timeout}'."
            )
        user = (env.get("KPI_SMTP_USER") or "").strip() or None
        sender = (env.get("KPI_SMTP_FROM") or "").strip()
        if not sender and user and "@" in user:
            sender = user
        return cls(
            host=host,
            port=port,
            # Implicit TLS already encrypts the connection; STARTTLS on top of it is an error.
            starttls=_flag(env, "KPI_SMTP_STARTTLS", True) and not use_ssl,
            use_ssl=use_ssl,
            user=user,
            password=env.get("KPI_SMTP_PASSWORD") or None,
            sender=sender,
            recipients=parse_recipients(env.get(recipients_var)),
            ca_file=(env.get("KPI_SMTP_CA_FILE") or "").strip() or None,
            timeout=timeout,
            recipients_var=recipients_var,
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def check(self) -> None:
        """Refuse settings that cannot work or would expose the credentials."""
        if not self.sender or "@" not in self.sender:
            raise MailError("Set KPI_SMTP_FROM to the sender's email address.")
        if not self.recipients:
            raise MailError(f"Set {self.recipients_var} to at least one email address.")
        if self.user and not (self.starttls or self.use_ssl):
            raise MailError(
                f"Refusing to send SMTP credentials to {self.address} without encryption; "
                "enable KPI_SMTP_STARTTLS or KPI_SMTP_SSL."
            )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(".") if text else type(exc).__name__


def _login(client: smtplib.SMTP, settings: SmtpSettings) -> None:
    if not isinstance(client.sock, ssl.SSLSocket):
        # Unreachable with checked settings; kept so a future code path cannot leak them.
        raise MailError(
            f"Refusing to send SMTP credentials to {settings.address} without encryption."
        )
    try:
        client.login(settings.user or "", settings.password or "")
    except (smtplib.SMTPAuthenticationError, smtplib.SMTPServerDisconnected):
        # Some servers hang up on a bad login rather than answer 535.
        raise MailError(
            f"The SMTP server {settings.address} refused the login of {settings.user}."
        ) from None
    except smtplib.SMTPNotSupportedError:
        raise MailError(
            f"The SMTP server {settings.address} offers no login; unset KPI_SMTP_USER."
        ) from None


def send(message: EmailMessage, settings: SmtpSettings) -> tuple[str, ...]:
    """Send ``message`` from ``settings.sender`` to ``settings.recipients``.

    Returns the recipients the server accepted; raises ``MailError`` when the message did
    not go out (or would have exposed the credentials).
    """
    settings.check()
    if message["From"] is None:
        message["From"] = settings.sender
    context = ssl.create_default_context(cafile=settings.ca_file)
    where = settings.address
    try:
        if settings.use_ssl:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=context
            )
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with client:
            client.ehlo()
            if settings.starttls:
                if not client.has_extn("starttls"):
                    if settings.user:
                        raise MailError(
                            f"The SMTP server {where} does not offer STARTTLS, so the "
                            "credentials were not sent over an unencrypted connection."
                        )
                    raise MailError(
                        f"The SMTP server {where} does not offer STARTTLS; set "
                        "KPI_SMTP_STARTTLS=false only for a trusted relay that needs no login."
                    )
                client.starttls(context=context)
                client.ehlo()
            if settings.user:
                _login(client, settings)
            refused = client.send_message(message, settings.sender, list(settings.recipients))
    except MailError:
        raise
    except smtplib.SMTPRecipientsRefused:
        raise MailError(f"The SMTP server {where} refused every recipient.") from None
    except ssl.SSLCertVerificationError as exc:
        raise MailError(
            f"The certificate of the SMTP server {where} could not be verified "
            f"({exc.verify_message}); set KPI_SMTP_CA_FILE to its CA."
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"Sending mail through {where} failed: {_first_line(exc)}.") from None
    accepted = tuple(r for r in settings.recipients if r not in refused)
    if refused:
        LOGGER.warning("SMTP server %s refused %s", where, ", ".join(sorted(refused)))
    LOGGER.info("mail sent through %s to %d recipient(s)", where, len(accepted))
    return accepted
