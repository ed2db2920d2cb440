"""A real SMTP server (aiosmtpd) on 127.0.0.1 that records the commands it was sent.

Each recorded command carries whether the connection was encrypted at that moment, so a
test can assert that AUTH came only after STARTTLS, or never came at all.
"""

from __future__ import annotations

import email
import ssl
from contextlib import contextmanager
from email import policy
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

from tests.tls_helpers import self_signed_certificate

USER = "mailer"
PASSWORD = "s3cret-Pa55"


class Inbox:
    def __init__(self):
        self.envelopes = []
        self.messages: list[email.message.EmailMessage] = []
        # (command, encrypted) in the order the server received them, over all sessions.
        self.commands: list[tuple[str, bool]] = []
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    @property
    def verbs(self) -> list[str]:
        return [verb for verb, _ in self.commands]


class _RecordingSMTP(SMTP):
    def __init__(self, handler, **kwargs):
        super().__init__(handler, **kwargs)
        self._inbox = handler

    def _record(self, verb: str) -> None:
        encrypted = self.transport.get_extra_info("ssl_object") is not None
        self._inbox.commands.append((verb, encrypted))

    async def smtp_EHLO(self, arg):  # noqa: N802 - aiosmtpd API
        self._record("EHLO")
        return await super().smtp_EHLO(arg)

    async def smtp_STARTTLS(self, arg):  # noqa: N802 - aiosmtpd API
        self._record("STARTTLS")
        return await super().smtp_STARTTLS(arg)

    async def smtp_AUTH(self, arg):  # noqa: N802 - aiosmtpd API
        self._record("AUTH")
        return await super().smtp_AUTH(arg)

    async def smtp_MAIL(self, arg):  # noqa: N802 - aiosmtpd API
        self._record("MAIL")
        return await super().smtp_MAIL(arg)


class _RecordingController(Controller):
    def _trigger_server(self):
        # Bound to port 0: learn the port the system chose before the readiness probe.
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()

    def factory(self):
        return _RecordingSMTP(self.handler, **self.SMTP_kwargs)


def _authenticator(inbox: Inbox):
    def check(server, session, envelope, mechanism, auth_data):
        inbox.logins.append((auth_data.login, auth_data.password))
        ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
        # handled=False: the server itself answers 535 to a refused login.
        return AuthResult(success=ok, handled=False)

    return check


@contextmanager
def smtp_server(folder: Path, *, mode: str):
    """Yield ``(port, inbox, ca_file)`` of a server on 127.0.0.1.

    ``mode`` is ``starttls`` (offers STARTTLS, AUTH only after it), ``plain`` (offers no
    STARTTLS yet would accept AUTH in the clear, so only the client can refuse) or
    ``ssl`` (implicit TLS from the first byte). ``ca_file`` is None for ``plain``.
    """
    inbox = Inbox()
    ca_file = None
    kwargs: dict = {"authenticator": _authenticator(inbox)}
    if mode in ("starttls", "ssl"):
        cert, key = self_signed_certificate(folder)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        ca_file = cert
        if mode == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        else:
            # aiosmtpd only counts STARTTLS as encryption; this connection is TLS throughout.
            kwargs.update(ssl_context=context, auth_require_tls=False)
    elif mode == "plain":
        kwargs.update(auth_require_tls=False)
    else:
        raise ValueError(mode)
    controller = _RecordingController(inbox, hostname="127.0.0.1", port=0, **kwargs)
    controller.start()
    try:
        yield controller.port, inbox, ca_file
    finally:
        controller.stop()
