"""Mail: written to the outbox with its cause, sent by a worker in every server process.

A message is enqueued in the same transaction as what causes it (a sign-in link, later a
reply notification), so it is never lost and never sent for something that rolled back.
Each process's worker claims due messages with compare-and-set, so several processes
never send one twice; a failed send is retried with growing delays. Without
PARLOUR_SMTP_URL the message is written to the log instead, which is how a new instance
signs in before it has a mail server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from email.message import EmailMessage
from functools import partial
from typing import TypeVar
from urllib.parse import unquote, urlsplit

import aiosmtplib

from parlour.services.context import Context
from parlour.store import Tx
from parlour.store import outbox as store

log = logging.getLogger("parlour.mail")
T = TypeVar("T")

POLL_SECONDS = 1.0
CLAIM_STALE_MS = 15 * 60_000  # a claim this old belongs to a process that died mid-send
CLAIM_BATCH = 5  # x the 30 s send timeout stays well inside CLAIM_STALE_MS
MAX_ATTEMPTS = 10


def enqueue(tx: Tx, ctx: Context, recipient: str, subject: str, body: str) -> None:
    store.enqueue(tx, recipient, subject, body, ctx.now())


async def deliver(ctx: Context, message: store.Message) -> None:
    """Send one message through the configured server, or write it to the log."""
    settings = ctx.settings
    if not settings.smtp_url:
        log.warning(
            "No PARLOUR_SMTP_URL: mail to %s, %r:\n%s", message.recipient, message.subject, message.body
        )
        return
    url = urlsplit(settings.smtp_url)
    email = EmailMessage()
    email["From"] = settings.mail_from
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email.set_content(message.body)
    tls = url.scheme == "smtps"
    await aiosmtplib.send(
        email,
        hostname=url.hostname or "localhost",
        port=url.port or (465 if tls else 25),
        username=unquote(url.username) if url.username else None,
        password=unquote(url.password) if url.password else None,
        use_tls=tls,
        start_tls=None,  # STARTTLS when the server offers it
        timeout=30,
    )


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
        _write(ctx, lambda tx: store.claim(tx, now, now - CLAIM_STALE_MS, CLAIM_BATCH))
    )
    sent = 0
    for message in claimed:
        try:
            await deliver(ctx, message)
        except Exception as exc:  # any failure: this message is retried later, the batch goes on
            delay = 60_000 * 2 ** min(message.attempts, 8)
            retry_at = ctx.now() + (delay if message.attempts < MAX_ATTEMPTS else 10 * 365 * 86_400_000)
            log.warning("Mail to %s failed (attempt %d): %s", message.recipient, message.attempts, exc)
            error = str(exc)
            await ctx.db.run(_write(ctx, partial(_failed, message.id, error, retry_at)))
            continue
        done = ctx.now()
        await ctx.db.run(_write(ctx, partial(_sent, message.id, done)))
        sent += 1
    return sent


def _failed(message_id: int, error: str, retry_at: int, tx: Tx) -> None:
    store.mark_failed(tx, message_id, error, retry_at)


def _sent(message_id: int, when: int, tx: Tx) -> None:
    store.mark_sent(tx, message_id, when)


class MailWorker:
    """Sends the outbox in the background of a server process."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                await send_due(self._ctx)
            except Exception:  # the database may be restarting: try again next tick
                log.exception("outbox: sending failed")
            await asyncio.sleep(POLL_SECONDS)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
