"""A real SMTP server for tests (aiosmtpd): it keeps what it receives, and refuses what
it is told to."""

from __future__ import annotations

import contextlib
import email
import email.message
from collections.abc import Iterator
from email import policy
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from servers import free_port


class Server:
    """A real SMTP server that keeps what it receives, and refuses what it is told to."""

    def __init__(self) -> None:
        self.received: list[email.message.EmailMessage] = []
        self.raw: list[bytes] = []  # as sent, headers unparsed
        self.refused_data: list[str] = []  # Message-IDs of messages it answered 451 to
        self.data_answers: list[str] = []  # the next DATA answers, first first; then 250
        self.refuse_recipients: set[str] = set()
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse_recipients:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        if self.data_answers:
            answer = self.data_answers.pop(0)
            self.refused_data.append(str(message["Message-ID"]))
            return answer
        self.received.append(message)  # type: ignore[arg-type]
        self.raw.append(envelope.content)
        return "250 Message accepted"


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    smtp: Server = server.event_handler
    if isinstance(auth_data, LoginPassword):
        smtp.logins.append((auth_data.login, auth_data.password))
        ok = auth_data.login == b"wren@blog.example" and auth_data.password == b"p@ss:w/rd"
        return AuthResult(success=ok)
    return AuthResult(success=False)


@contextlib.contextmanager
def running_smtp(handler: Server) -> Iterator[int]:
    """Serve `handler` on a free port of 127.0.0.1 while the block runs; yields the port."""
    port = free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, authenticator=authenticate, auth_require_tls=False
    )
    controller.start()
    try:
        yield port
    finally:
        controller.stop()
