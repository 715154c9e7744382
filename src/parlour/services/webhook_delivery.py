"""Sending webhooks: deliveries claimed from the database and POSTed, signed, by a worker
in every server process.

Each process's worker claims due deliveries with compare-and-set (store/webhooks.py), so
several processes never send one at once, and renews its claims while it sends; a claim
left to lapse (its process died) is taken over after CLAIM_STALE_MS. Every attempt is
signed afresh (Standard Webhooks: `webhook-timestamp` now, `webhook-signature` over
`id.timestamp.body`) under the delivery's one `webhook-id`, so a receiver can tell a
retry from a new message. Any 2xx answer delivers it; anything else (a redirect is not
followed) is retried on the schedule the specification suggests, and given up on after
MAX_ATTEMPTS. A 410 Gone gives up at once and pauses the webhook, as the specification
asks. Deliveries to one webhook go out one after another, those to different webhooks
side by side, so a slow receiver holds up only its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

import standardwebhooks

from parlour import __version__
from parlour.services.context import Context
from parlour.store import Tx
from parlour.store import webhooks as store

if TYPE_CHECKING:
    import httpx2 as httpx

log = logging.getLogger("parlour.webhooks")
T = TypeVar("T")

# Wait after the 1st, 2nd, ... failed attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h
# (Standard Webhooks' suggestion), about a day and a quarter in all.
SCHEDULE_MS = (5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000)
MAX_ATTEMPTS = len(SCHEDULE_MS) + 1
TIMEOUT = 10.0  # seconds for each step of a request (connect, send, each read)
ATTEMPT_LIMIT = 20.0  # seconds for a whole attempt, however the receiver trickles
ANSWER_BYTES = 1024  # of a refusal's body kept for the log; the rest is never read
POLL_SECONDS = 1.0
CLAIM_STALE_MS = 60_000  # a claim not renewed for this long belongs to a process that died
RENEW_SECONDS = 15.0
CLAIM_BATCH = 10
KEEP_MS = 30 * 86_400_000  # finished deliveries stay in the log this long
PRUNE_EVERY = 3600.0  # seconds between a process's clean-ups of the log
STOP_WAIT = ATTEMPT_LIMIT + 5  # seconds a stopping worker lets the round in hand finish
USER_AGENT = f"Parlour/{__version__} (webhooks)"


class Sender:
    """A process's HTTP client for webhooks, made for the first delivery: httpx2 costs a
    worker 1.8 MiB, which an instance without webhooks never spends. Redirects are not
    followed (a receiver that moved is a failure to see in the log, not a hop to wherever
    it points)."""

    def __init__(self) -> None:
        self._client: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx2

            # Its INFO line per request would be an access log of every delivery (URLs
            # and all); failures are logged here, and every outcome is in the table.
            logging.getLogger("httpx2").setLevel(logging.WARNING)
            self._client = httpx2.AsyncClient(
                timeout=httpx2.Timeout(TIMEOUT), follow_redirects=False, headers={"user-agent": USER_AGENT}
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def signed_headers(secret: str, message_id: str, body: bytes, now_ms: int) -> dict[str, str]:
    """The Standard Webhooks headers for one attempt, signed with the reference library."""
    seconds = now_ms // 1000
    signature = standardwebhooks.Webhook(secret).sign(message_id, datetime.fromtimestamp(seconds, UTC), body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(seconds),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


@dataclass(frozen=True, slots=True)
class Answer:
    """How an attempt went: the receiver's status (None: no answer) and, unless it was
    delivered, what went wrong, in a line for the log."""

    status: int | None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.error is None


async def attempt(client: httpx.AsyncClient, claimed: store.Claimed, now_ms: int) -> Answer:
    """POST one delivery, signed now; never raises for what the network or receiver does."""
    delivery = claimed.delivery
    body = delivery.payload.encode()
    headers = signed_headers(claimed.secret, delivery.message_id, body, now_ms)
    try:
        async with asyncio.timeout(ATTEMPT_LIMIT):
            async with client.stream("POST", claimed.url, content=body, headers=headers) as response:
                status = response.status_code
                if 200 <= status < 300:
                    return Answer(status)
                if 300 <= status < 400:
                    where = response.headers.get("location", "")
                    return Answer(
                        status, f"{status} {response.reason_phrase}: a redirect to {where} (not followed)"
                    )
                said = await _start_of(response)
                return Answer(status, _one_line(f"{status} {response.reason_phrase}: {said}".rstrip(": ")))
    except Exception as exc:  # refused, reset, TLS, DNS...: a failure to retry, never a crash
        from httpx2 import TimeoutException

        if isinstance(exc, TimeoutError | TimeoutException):
            return Answer(None, f"No answer within {TIMEOUT:.0f} seconds.")
        return Answer(None, _one_line(f"{type(exc).__name__}: {exc}"))


async def _start_of(response: httpx.Response) -> str:
    """The first ANSWER_BYTES of a refusal's body, as one line of text."""
    kept = b""
    async for chunk in response.aiter_raw():
        kept += chunk
        if len(kept) >= ANSWER_BYTES:
            break
    return kept[:ANSWER_BYTES].decode("utf-8", "replace")


def _one_line(text: str) -> str:
    """For the log: one line, at most 500 characters."""
    return " ".join(text.split())[:500]


def retry_at(attempts: int, now_ms: int) -> int | None:
    """When to try again after the `attempts`-th failed attempt; None: give up."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return now_ms + SCHEDULE_MS[max(attempts, 1) - 1]


def _write(ctx: Context, change: Callable[[Tx], T]) -> Callable[[], T]:
    def work() -> T:
        with ctx.db.write() as tx:
            return change(tx)

    return work


async def send_due(ctx: Context, sender: Sender | None = None) -> int:
    """Claim and send what is due now; returns how many were delivered. Without a
    `sender`, one is made for this round and closed after it."""
    now = ctx.now()

    def due() -> bool:
        with ctx.db.read() as tx:
            return store.any_due(tx, now, now - CLAIM_STALE_MS)

    if not await ctx.db.run(due):
        return 0
    claimed = await ctx.db.run(
        _write(ctx, lambda tx: store.claim(tx, now, now - CLAIM_STALE_MS, CLAIM_BATCH))
    )
    if not claimed:
        return 0
    by_webhook: dict[int, list[store.Claimed]] = {}
    for item in claimed:
        by_webhook.setdefault(item.delivery.webhook_id, []).append(item)
    in_hand = {item.delivery.id for item in claimed}
    renewing = asyncio.get_running_loop().create_task(_renew(ctx, in_hand))
    own_sender = sender is None
    sender = sender or Sender()
    http = sender.client()
    try:
        results = await asyncio.gather(
            *(_send_in_turn(ctx, http, group, in_hand) for group in by_webhook.values()),
            return_exceptions=True,
        )
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
        if own_sender:
            await sender.aclose()
    sent = 0
    for result in results:
        if isinstance(result, BaseException):  # the database went away: the claims lapse and are retried
            log.error("webhooks: could not record a delivery", exc_info=result)
        else:
            sent += result
    return sent


async def _renew(ctx: Context, in_hand: set[int]) -> None:
    """Keep this process's claims fresh while it sends."""
    while in_hand:
        await asyncio.sleep(RENEW_SECONDS)
        try:
            await ctx.db.run(_write(ctx, partial(_renewed, sorted(in_hand), ctx.now())))
        except Exception:  # the database restarting: the claims may lapse, and be taken over
            log.exception("webhooks: could not renew claims")


async def _send_in_turn(
    ctx: Context, client: httpx.AsyncClient, group: Sequence[store.Claimed], in_hand: set[int]
) -> int:
    """One webhook's deliveries, oldest first, one at a time."""
    sent = 0
    for item in group:
        try:
            answer = await attempt(client, item, ctx.now())
            await ctx.db.run(_write(ctx, partial(_record, item, answer, ctx.now())))
            sent += answer.delivered
        finally:
            in_hand.discard(item.delivery.id)
    return sent


def _record(item: store.Claimed, answer: Answer, now: int, tx: Tx) -> None:
    delivery = item.delivery
    if answer.error is None:
        assert answer.status is not None
        store.mark_delivered(tx, delivery.id, answer.status, now)
        return
    again = None if answer.status == 410 else retry_at(delivery.attempts, now)
    if again is None:
        log.warning(
            "Webhook %s: gave up on %s after %d attempt(s): %s",
            _shown(item.url), delivery.message_id, delivery.attempts, answer.error,
        )  # fmt: skip
        store.mark_failed_for_good(tx, delivery.id, answer.status, answer.error, now)
        if answer.status == 410:  # Gone: the receiver asks for nothing more
            store.set_disabled(tx, delivery.webhook_id, now)
        return
    log.info("Webhook %s: attempt %d failed: %s", _shown(item.url), delivery.attempts, answer.error)
    store.mark_failed(tx, delivery.id, answer.status, answer.error, again)


def _renewed(ids: list[int], when: int, tx: Tx) -> None:
    store.renew_claims(tx, ids, when)


def prune(ctx: Context) -> int:
    """Forget deliveries finished more than KEEP_MS ago; returns how many."""
    before = ctx.now() - KEEP_MS
    with ctx.db.read() as tx:
        if not store.any_to_prune(tx, before):
            return 0
    with ctx.db.write() as tx:
        return store.prune(tx, before)


class WebhookWorker:
    """Sends due deliveries in the background of a server process, and now and then
    forgets old ones."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._task: asyncio.Task[None] | None = None
        self._sender = Sender()
        self._stopping: asyncio.Event | None = None

    def start(self) -> None:
        self._stopping = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        assert self._stopping is not None
        loop = asyncio.get_running_loop()
        pruned = 0.0
        while not self._stopping.is_set():
            try:
                await send_due(self._ctx, self._sender)
                if loop.time() - pruned >= PRUNE_EVERY:
                    pruned = loop.time()
                    await self._ctx.db.run(partial(prune, self._ctx), heavy=True)
            except Exception:  # the database may be restarting: try again next tick
                log.exception("webhooks: sending failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), POLL_SECONDS)

    async def stop(self) -> None:
        """Let the round in hand finish (its database work ends before this returns),
        then close the client."""
        if self._task is not None and self._stopping is not None:
            self._stopping.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), STOP_WAIT)
            except TimeoutError:
                log.warning("webhooks: the worker did not stop within %s seconds", STOP_WAIT)
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        await self._sender.aclose()


def _shown(url: str) -> str:
    """A webhook's address for the log: without its query, which may carry a token."""
    parts = urlsplit(url)
    return parts._replace(query="", fragment="").geturl() + ("?…" if parts.query else "")
