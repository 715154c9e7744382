"""Mail: written to the outbox with its cause, sent by a worker in every server process.

A message is enqueued in the same transaction as what causes it (a sign-in link, a reply
notification), so it is never lost and never sent for something that rolled back. Each
process's worker claims due messages with compare-and-set, so several processes never
send one twice, and renews its claims while it sends; a claim left to lapse (its process
died) is taken over after CLAIM_STALE_MS. A failed send is retried with growing delays,
under the same Message-ID (chosen at enqueue), and one the receiving server refused for
good (a 5xx for the address, or to the message itself: `refused_for_good`) is not
retried. The moment between a message's text and its final dot is recorded (`_Client`,
`outbox.handed_at`): a message whose process died after it is never sent again, one
whose process died before it is, so a kill -9 at any moment loses no message and the
receiving server sees each Message-ID once. Without PARLOUR_SMTP_URL the message is
written to the log instead, which is how a new instance signs in before it has a mail
server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, parseaddr
from functools import partial
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import aiosmtplib
from aiosmtplib.response import SMTPResponse
from aiosmtplib.typing import Default

from parlour.domain import errors
from parlour.domain.model import User
from parlour.services.context import Context
from parlour.settings import Settings
from parlour.store import Tx
from parlour.store import outbox as store

log = logging.getLogger("parlour.mail")
T = TypeVar("T")

POLL_SECONDS = 1.0
CLAIM_STALE_MS = 60_000  # a claim not renewed for this long belongs to a process that died
STOP_WAIT = 2.0  # seconds a stopping server lets the round in hand go on (granian kills at 5)
RENEW_SECONDS = 15.0  # a sending process renews its claims this often
CLAIM_BATCH = 5
MAX_ATTEMPTS = 10


def enqueue(
    tx: Tx,
    ctx: Context,
    recipient: str,
    subject: str,
    body: str,
    message_id: str | None = None,
    *,
    html: str | None = None,
    headers: dict[str, str] | None = None,
) -> str:
    """Write a message to the outbox in the caller's transaction; returns its Message-ID,
    chosen now so that every attempt to send it carries the same one. `html` is an
    alternative to the plain text `body`; `headers` adds headers (threading,
    List-Unsubscribe)."""
    message_id = message_id or new_message_id(ctx.settings)
    store.enqueue(tx, recipient, subject, body, ctx.now(), message_id, html, headers)
    return message_id


def new_message_id(settings: Settings) -> str:
    """A fresh Message-ID (RFC 5322) on the sender's domain. From `secrets`, not
    `email.utils.make_msgid`, which draws on the process's shared `random` state."""
    return f"<{secrets.token_hex(16)}@{sender_domain(settings)}>"


def sender_domain(settings: Settings) -> str:
    """The domain of PARLOUR_MAIL_FROM's address, for the Message-IDs Parlour makes."""
    _, address = parseaddr(settings.mail_from)
    return address.rpartition("@")[2] or "localhost"


# How messages are written on the wire: CRLF, and header lines folded only past RFC 5322's
# 998 characters, so that a long header of URIs (List-Unsubscribe) stays as written
# rather than turned into RFC 2047 encoded-words, which RFC 2369 does not allow there.
WIRE = SMTP.clone(max_line_length=998)


def compose(
    settings: Settings,
    recipient: str,
    subject: str,
    body: str,
    message_id: str,
    html: str | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    email = EmailMessage(policy=WIRE)
    email["From"] = settings.mail_from
    email["To"] = recipient
    email["Subject"] = subject
    email["Date"] = formatdate(usegmt=True)
    email["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        email[name] = value
    email.set_content(body, cte="quoted-printable")  # 7-bit clean: no server needs 8BITMIME
    if html is not None:
        email.add_alternative(html, subtype="html", cte="quoted-printable")
    return email


class NoMailServer(Exception):
    """PARLOUR_SMTP_URL is not set: mail is written to the log instead."""


class HandedOver(Exception):
    """The message's text and its final dot were sent and the server's answer never
    came (the connection dropped, or timed out): it may have the message."""


HandOver = Callable[[], Awaitable[None]]


class _Client(aiosmtplib.SMTP):
    """aiosmtplib's client, with DATA sent in two steps: the message's text, then (once
    `hand_over` has recorded that the server is about to have it) the final dot.

    So a process killed at any moment either had not sent the dot (the server drops a
    message without it, and the outbox sends it again) or had recorded the hand-over (the
    outbox never sends it again): the receiving server sees each Message-ID once, but for
    the instant between that record and the dot's write."""

    def __init__(self, hand_over: HandOver | None, **options: Any) -> None:
        super().__init__(**options)
        self._hand_over = hand_over

    async def data(self, message: str | bytes, /, *, timeout: Any = Default.token) -> SMTPResponse:
        if self._hand_over is None:
            return await super().data(message, timeout=timeout)
        if self.protocol is None:
            raise aiosmtplib.SMTPServerDisconnected("Connection lost")
        text = message.encode("ascii") if isinstance(message, str) else message
        text = _LINE_END.sub(b"\r\n", text)
        text = _LEADING_DOT.sub(b"..", text)  # RFC 5321 4.5.2: a line's leading dot is doubled
        if not text.endswith(b"\r\n"):
            text += b"\r\n"
        start = await self.execute_command(b"DATA", timeout=timeout)
        if start.code != 354:
            raise aiosmtplib.SMTPDataError(start.code, start.message)
        self.protocol.write(text)
        await self._hand_over()
        try:
            answer = await self.execute_command(b".", timeout=timeout)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError) as exc:
            raise HandedOver(str(exc) or type(exc).__name__) from exc
        if answer.code != 250:
            raise aiosmtplib.SMTPDataError(answer.code, answer.message)
        return answer


_LINE_END = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"(?m)^\.")


async def transport(
    settings: Settings, email: EmailMessage, recipient: str, hand_over: HandOver | None = None
) -> str:
    """Hand one message to the configured SMTP server; returns what it answered.

    `smtps://` speaks TLS from the first byte (port 465 by default); `smtp://` upgrades
    with STARTTLS when the server offers it (port 25 by default), and with
    `?starttls=required` refuses to send over a connection that could not be upgraded.
    User and password come from the URL (percent-encoded), which may itself come from a
    file: PARLOUR_SMTP_URL_FILE. The envelope goes to `recipient` alone, whatever the
    headers say. `hand_over` is awaited between the message's text and its final dot
    (`_Client`)."""
    if not settings.smtp_url:
        raise NoMailServer("PARLOUR_SMTP_URL is not set")
    url = urlsplit(settings.smtp_url)
    tls = url.scheme == "smtps"
    required = "starttls=required" in url.query.split("&")
    client = _Client(
        hand_over,
        hostname=url.hostname or "localhost",
        port=url.port or (465 if tls else 25),
        username=unquote(url.username) if url.username else None,
        password=unquote(url.password) if url.password else None,
        use_tls=tls,
        start_tls=True if required else None,  # None: STARTTLS when the server offers it
        timeout=30,
    )
    _, sender = parseaddr(str(email["From"]))
    async with client:
        _, answer = await client.sendmail(sender, [recipient], email.as_bytes(policy=WIRE))
    return answer


async def deliver(ctx: Context, message: store.Message, hand_over: HandOver | None = None) -> None:
    """Send one message through the configured server, or write it to the log."""
    settings = ctx.settings
    if not settings.smtp_url:
        log.warning(
            "No PARLOUR_SMTP_URL: mail to %s, %r:\n%s", message.recipient, message.subject, message.body
        )
        return
    # A message written by a process older than migration 0013 may have none yet.
    message_id = message.message_id or new_message_id(settings)
    email = compose(
        settings, message.recipient, message.subject, message.body, message_id, message.html, message.headers
    )
    await transport(settings, email, message.recipient, hand_over)


def refused_for_good(exc: Exception) -> bool:
    """Did the receiving server refuse this message for good? Only two answers say so: a
    5xx to every recipient that is about the address (not a policy refusal, 5.7.x, such
    as "relay access denied", which is the sending setup's), or a 5xx to the message
    itself after DATA. Everything else (the greeting, HELO, STARTTLS, sign-in, the
    sender, any 4xx, the network) is about the server or the setup and is retried."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(
            r.code >= 500 and not r.message.lstrip().startswith("5.7.") for r in exc.recipients
        )
    if isinstance(exc, aiosmtplib.SMTPDataError):
        return exc.code >= 500
    return False


def describe(exc: Exception) -> str:
    """What went wrong, as the server said it: `550 5.1.1 No such mailbox` rather than
    the exception's repr."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return (
            "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients) or "recipients refused"
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{exc.code} {exc.message}"
    return str(exc) or type(exc).__name__


async def send_test(settings: Settings, recipient: str) -> str:
    """`parlour mail test`: one message straight through the configured server (not the
    outbox), so a configuration error shows at once. Returns the server's answer."""
    email = compose(
        settings, recipient, "Parlour mail test",
        "This message from Parlour shows that its mail settings work: sign-in links and "
        "notifications will reach readers through this server.\n",
        new_message_id(settings),
    )  # fmt: skip
    return await transport(settings, email, recipient)


@dataclass(frozen=True, slots=True)
class Failure:
    """A message Parlour gave up on, for the desk's mail page."""

    recipient: str
    subject: str
    error: str
    attempts: int
    failed_at: int


def failures(ctx: Context, user: User, limit: int = 200) -> list[Failure]:
    """Messages that failed for good, newest first: for the instance's owners, since
    they hold every account's and reader's address."""
    if not user.is_owner:
        raise errors.NotPermitted("Only the instance's owners see its mail.")
    with ctx.db.read() as tx:
        found = store.failed(tx, limit)
    return [Failure(m.recipient, m.subject, error or "", m.attempts, when) for m, error, when in found]


def _write(ctx: Context, change: Callable[[Tx], T]) -> Callable[[], T]:
    def work() -> T:
        with ctx.db.write() as tx:
            return change(tx)

    return work


async def send_due(ctx: Context) -> int:
    """Claim and send what is due now; returns how many were sent."""
    now = ctx.now()

    def due() -> bool:
        with ctx.db.read() as tx:
            return store.any_due(tx, now, now - CLAIM_STALE_MS)

    if not await ctx.db.run(due):
        return 0
    claimed = await ctx.db.run(
        _write(
            ctx,
            lambda tx: store.claim(
                tx, now, now - CLAIM_STALE_MS, CLAIM_BATCH, store.PerRecipient(ctx.settings.mail_rate_limit)
            ),
        )
    )
    in_hand = {message.id for message in claimed}
    renewing = asyncio.get_running_loop().create_task(_renew(ctx, in_hand))
    try:
        return await _send_claimed(ctx, claimed, in_hand)
    except asyncio.CancelledError:  # the server is stopping: what is not sent goes back at once
        await ctx.db.run(_write(ctx, partial(_released, [m.id for m in claimed])))
        raise
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing


async def _renew(ctx: Context, in_hand: set[int]) -> None:
    """Keep this process's claims fresh while it sends: a claim left to go stale is
    taken over by another process within CLAIM_STALE_MS of this one dying."""
    while in_hand:
        await asyncio.sleep(RENEW_SECONDS)
        try:
            await ctx.db.run(_write(ctx, partial(_renewed, sorted(in_hand), ctx.now())))
        except Exception:  # the database restarting: the claims may lapse, and be taken over
            log.exception("outbox: could not renew claims")


async def _send_claimed(ctx: Context, claimed: list[store.Message], in_hand: set[int]) -> int:
    sent = 0
    for message in claimed:
        try:
            sent += await _send_one(ctx, message)
        finally:
            in_hand.discard(message.id)
    return sent


async def _send_one(ctx: Context, message: store.Message) -> int:
    """Send one claimed message and record the outcome; returns 1 if it was sent."""
    hand_over = partial(ctx.db.run, _write(ctx, partial(_handed, message.id, ctx.now())))
    try:
        await deliver(ctx, message, hand_over)
    except HandedOver as exc:  # the server may have it: never sent again
        log.warning("Mail to %s handed over, and the server did not answer: %s", message.recipient, exc)
        await ctx.db.run(_write(ctx, partial(_sent, message.id, ctx.now(), store.HANDED_UNCONFIRMED)))
        return 1
    except Exception as exc:  # any failure: retried later unless it is final; the batch goes on
        error = describe(exc)
        if refused_for_good(exc) or message.attempts >= MAX_ATTEMPTS:
            log.warning(
                "Mail to %s failed for good (attempt %d): %s", message.recipient, message.attempts, error
            )
            await ctx.db.run(_write(ctx, partial(_failed_for_good, message.id, error, ctx.now())))
            return 0
        retry_at = ctx.now() + 60_000 * 2 ** min(message.attempts - 1, 8)  # 1, 2, 4 ... 256 minutes
        log.warning("Mail to %s failed (attempt %d): %s", message.recipient, message.attempts, error)
        await ctx.db.run(_write(ctx, partial(_failed, message.id, error, retry_at)))
        return 0
    await ctx.db.run(_write(ctx, partial(_sent, message.id, ctx.now(), None)))
    return 1


def _failed(message_id: int, error: str, retry_at: int, tx: Tx) -> None:
    store.mark_failed(tx, message_id, error, retry_at)


def _failed_for_good(message_id: int, error: str, when: int, tx: Tx) -> None:
    store.mark_failed_for_good(tx, message_id, error, when)


def _sent(message_id: int, when: int, note: str | None, tx: Tx) -> None:
    store.mark_sent(tx, message_id, when, note)


def _renewed(ids: list[int], when: int, tx: Tx) -> None:
    store.renew_claims(tx, ids, when)


def _released(ids: list[int], tx: Tx) -> None:
    store.release_claims(tx, ids)


def _handed(message_id: int, when: int, tx: Tx) -> None:
    store.mark_handed(tx, message_id, when)


class MailWorker:
    """Sends the outbox in the background of a server process."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._task: asyncio.Task[None] | None = None
        self._stopping: asyncio.Event | None = None

    def start(self) -> None:
        self._stopping = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        assert self._stopping is not None
        while not self._stopping.is_set():
            try:
                await send_due(self._ctx)
            except Exception:  # the database may be restarting: try again next tick
                log.exception("outbox: sending failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), POLL_SECONDS)

    async def stop(self) -> None:
        """Let the round in hand finish for up to STOP_WAIT seconds, then cancel it: its
        unsent messages' claims are given back (`send_due`), so another instance sends
        them at once rather than after CLAIM_STALE_MS."""
        if self._task is not None and self._stopping is not None:
            self._stopping.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), STOP_WAIT)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
