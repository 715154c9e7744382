"""The writer's mail: new comments as they come or in a daily digest, and a weekly mail
of the comments still waiting for her answer. Her choice, per site (`Site.writer_mail`,
`Site.unanswered_mail`, set in the desk); it goes to the site's owners (the instance's
owners when a site has none).

- Each comment: `CommentMail`, a durable consumer of the event record, mails each reader
  comment shown (`posted`) and each one held for review (`held`), once, from the
  transaction that moves its cursor. Not the writer's own, nor imported ones.
- Digests: `send_digests`, run every minute by `DigestWorker` in every server process,
  sends what is due after PARLOUR_DIGEST_HOUR (UTC): the day's comments for sites that
  chose a daily digest, and on Mondays the unanswered ones (from the reply inbox). Each
  digest is claimed by inserting its (site, kind, period) row in the transaction that
  enqueues it: however many processes look, it goes out once. A period nothing happened
  in sends nothing; periods missed while no process ran are not sent late.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape

from parlour.domain.model import Comment, Event, Site, Status, Thread, WriterMail
from parlour.services import inbox, mail
from parlour.services.context import Context
from parlour.services.notifications import IMPORTED_MS, one_line
from parlour.services.views import on_site
from parlour.store import Tx, events
from parlour.store import accounts as account_store
from parlour.store import comments as comment_store
from parlour.store import inbox as inbox_store
from parlour.store import moderation as moderation_store
from parlour.store import sites as site_store
from parlour.store import threads as thread_store

log = logging.getLogger("parlour.writer_mail")

DIGEST_MAX = 100  # comments listed in a digest; the rest are counted
CHECK_SECONDS = 60.0

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("mail_templates")),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass(frozen=True, slots=True)
class Item:
    """A comment as a mail to the writer lists it."""

    author: str
    title: str
    body: str
    html: str
    link: str | None
    held: bool = False


def _links(ctx: Context, site: Site) -> dict[str, str | None]:
    """The desk's pages the mail points to: only from PARLOUR_PUBLIC_URL, or none."""
    base = (ctx.settings.public_url or "").rstrip("/")
    if not base:
        return {"inbox": None, "queue": None, "settings": None}
    settings = f"{base}/desk/sites/{site.id}#mail"
    return {"inbox": f"{base}/desk/inbox", "queue": f"{base}/desk/queue", "settings": settings}


def _comment_link(
    ctx: Context, site: Site, thread_key: str, thread_url: str | None, comment_id: int
) -> str | None:
    page = on_site(site, thread_url)
    if page is None and ctx.settings.public_url:
        query = urlencode({"site": site.id, "thread": thread_key})
        page = f"{ctx.settings.public_url.rstrip('/')}/comments.html?{query}"
    return f"{page}#comment-{comment_id}" if page else None


def _send(
    ctx: Context, tx: Tx, site: Site, subject: str, template: str, owners: list[str] | None = None,
    **values: object,
) -> None:  # fmt: skip
    """Mail the site's owners (`owners`, or read now)."""
    values = {"site": site, "links": _links(ctx, site), **values}
    text = _templates.get_template(f"{template}.txt").render(values)
    html = _templates.get_template(f"{template}.html").render(values)
    for address in owners if owners is not None else account_store.site_owner_emails(tx, site.id):
        mail.enqueue(
            tx, ctx, address, subject[:300], text, html=html, headers={"Auto-Submitted": "auto-generated"}
        )


class CommentMail:
    """The consumer that mails the writer each new reader comment, on sites that want it."""

    name = "writer_mail"

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def handle(self, tx: Tx, batch: Sequence[Event]) -> None:
        # Per batch, each site once, read in this transaction (a site made a moment ago in
        # another process is not in this one's directory yet): only sites that want each
        # comment and have someone to mail cost anything more.
        wanted: dict[str, tuple[Site, list[str]] | None] = {}
        for event in batch:
            if event.kind not in ("posted", "held") or event.comment_id is None:
                continue
            if event.site_id not in wanted:
                found = site_store.get_site(tx, event.site_id)
                owners = account_store.site_owner_emails(tx, event.site_id) if found else []
                ok = found is not None and found.writer_mail is WriterMail.EACH and bool(owners)
                wanted[event.site_id] = (found, owners) if ok and found is not None else None
            target = wanted[event.site_id]
            if target is None:
                continue
            site, owners = target
            comment = comment_store.get_comment(tx, event.comment_id)
            if comment is None or comment.is_writer or comment.created_at < event.created_at - IMPORTED_MS:
                continue
            held = event.kind == "held"
            if comment.status is not (Status.PENDING if held else Status.PUBLISHED):
                continue  # decided (or removed) before this mail went out
            thread = thread_store.get_thread_by_id(tx, comment.thread_id)
            if thread is not None:
                self._mail(tx, site, thread, comment, held, owners)

    def _mail(
        self, tx: Tx, site: Site, thread: Thread, comment: Comment, held: bool, owners: list[str]
    ) -> None:
        ctx = self._ctx
        author = comment.author_name or "Someone"
        title = thread.title or thread.key
        item = Item(
            author, title, comment.body, comment.html,
            None if held else _comment_link(ctx, site, thread.key, thread.url, comment.id), held,
        )  # fmt: skip
        subject = (
            f"Held for review: {one_line(author)} on “{one_line(title)}”"
            if held
            else f"{one_line(author)} commented on “{one_line(title)}”"
        )
        _send(ctx, tx, site, subject, "writer_comment", owners, item=item, email=comment.author_email)


def _latest(now: int, hour: int) -> datetime:
    """The latest `hour`:00 UTC at or before `now` (ms)."""
    moment = datetime.fromtimestamp(now / 1000, UTC)
    mark = moment.replace(hour=hour, minute=0, second=0, microsecond=0)
    return mark if mark <= moment else mark - timedelta(days=1)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def send_digests(ctx: Context) -> int:
    """Send the digests due now that no process has sent; returns how many were sent."""
    now = ctx.now()
    end = _latest(now, ctx.settings.digest_hour)
    day = (end - timedelta(days=1)).date().isoformat()
    year, week, _ = end.isocalendar()
    due = [("daily", day)]
    if end.weekday() == 0:  # from Monday's digest hour to Tuesday's: that week's mail
        due.append(("unanswered", f"{year}-W{week:02d}"))
    with ctx.db.read() as tx:
        waiting = {kind: site_store.sites_due_digest(tx, kind, period) for kind, period in due}
    sent = 0
    for site_id in waiting["daily"]:
        sent += _daily(ctx, site_id, day, _ms(end) - 86_400_000, _ms(end))
    for site_id in waiting.get("unanswered", []):
        sent += _unanswered(ctx, site_id, due[1][1])
    return sent


def _daily(ctx: Context, site_id: str, day: str, start: int, end: int) -> int:
    site = ctx.sites.get(site_id)
    with ctx.db.write() as tx:
        if site is None or not site_store.claim_digest(tx, site_id, "daily", day, ctx.now()):
            return 0
        shown = comment_store.site_comments_shown_between(tx, site_id, start, end, DIGEST_MAX + 1)
        held = len(moderation_store.list_held(tx, [site_id], 1000))
        if not shown and not held:
            return 0
        items = [
            Item(
                c.author_name or "Someone",
                title or key,
                c.body,
                c.html,
                _comment_link(ctx, site, key, url, c.id),
            )
            for c, key, title, url in shown[:DIGEST_MAX]
        ]
        more = len(shown) - len(items)
        count = len(shown)
        subject = f"{count} new comment{'' if count == 1 else 's'} on {one_line(site.name)}"
        if not shown:
            subject = f"{held} comment{'' if held == 1 else 's'} held for review on {one_line(site.name)}"
        _send(ctx, tx, site, subject, "writer_daily", items=items, more=more, held=held, day=day)
    return 1


def _unanswered(ctx: Context, site_id: str, week: str) -> int:
    site = ctx.sites.get(site_id)
    with ctx.db.write() as tx:
        if site is None or not site_store.claim_digest(tx, site_id, "unanswered", week, ctx.now()):
            return 0
        waiting = inbox_store.list_unanswered(
            tx, [site_id], inbox.INBOX_LIMIT, events.cursor(tx, inbox.CONSUMER.name)
        )
        if not waiting:
            return 0
        items = [
            Item(w.author_name or "Someone", w.thread_title or w.thread_key, w.body, w.html,
                 _comment_link(ctx, site, w.thread_key, w.thread_url, w.id))
            for w in waiting[:DIGEST_MAX]
        ]  # fmt: skip
        count = len(waiting)
        subject = f"{count} comment{'' if count == 1 else 's'} still waiting for your answer on {one_line(site.name)}"
        _send(ctx, tx, site, subject, "writer_unanswered", items=items, more=count - len(items), week=week)
    return 1


class DigestWorker:
    """Looks for due digests every CHECK_SECONDS in the background of a server process."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                await self._ctx.db.run(lambda: send_digests(self._ctx))
            except Exception:  # the database may be restarting: try again next time
                log.exception("digests: sending failed")
            await asyncio.sleep(CHECK_SECONDS)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
