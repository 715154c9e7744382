"""Reply mail: a reader who leaves an address hears of answers, with double opt-in.

1. Asking. A comment posted with `author_email` and `notify` ("replies": answers to this
   comment; "thread": every new comment of the conversation) records what the reader
   asked for, in the post's own transaction (`ask`). The first time an address is used
   on a site, Parlour mails it a confirmation link (at most one a day); nothing else is
   sent to that address until it is confirmed.
2. Confirming. The link opens a page with one button: a POST confirms, so a mail
   scanner that follows links confirms nothing (`confirmation`, `confirm`).
3. Sending. `ReplyMail` is a durable consumer of the event record: each comment shown
   (posted, or approved from the queue) mails the confirmed readers who asked for it,
   once, from the transaction that moves the consumer's cursor; a held comment mails no
   one until it is approved, a removed one never; an imported one (much older than its
   event) never. A reader is not mailed about their own comment, nor about one shown
   before they asked and confirmed. A comment that mentions a reader ("@Name", linked to
   their comment by services/mentions.py) mails them as a reply would, if they asked
   for mail in that conversation: once per comment, whatever else they asked for.
4. Leaving. Every mail carries links to stop mail for the conversation or from the whole
   site, and `List-Unsubscribe` (https and mailto) with `List-Unsubscribe-Post:
   List-Unsubscribe=One-Click` (RFC 8058): one POST, no sign-in (`leave`).

Links carry signed tokens (services/security.py `Signer`), never stored: a confirmation
link lives CONFIRM_DAYS; a leave link as long as the instance's secret.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape

from parlour.domain import errors
from parlour.domain.model import Comment, Event, MailReader, Site, Status, Thread
from parlour.services import mail, mentions
from parlour.services.context import Context
from parlour.services.views import on_site
from parlour.store import Tx
from parlour.store import comments as comment_store
from parlour.store import subscriptions as store
from parlour.store import threads as thread_store

log = logging.getLogger("parlour.notifications")

KINDS = ("replies", "thread")
REQUESTED = "requested"  # the answer to a post with `notify`, confirmed address or not
CONFIRM_DAYS = 7
CONFIRM_EVERY_MS = 86_400_000  # at most one confirmation mail a day to one address of a site
IMPORTED_MS = 3_600_000  # a comment this much older than its "posted" event was imported
SHOWN = ("posted", "published")
WHOLE_SITE = 0  # the thread id in a leave token that ends all mail from the site

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("mail_templates")),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def check_kind(value: object) -> str | None:
    """`notify` as sent: None, "replies" or "thread"."""
    if value is None or value == "":
        return None
    if value not in KINDS:
        raise errors.InvalidInput('notify is "replies", "thread" or left out.', field="notify")
    return str(value)


def _public_url(ctx: Context) -> str:
    base = ctx.settings.public_url
    if not base:
        raise errors.PublicUrlMissing(
            "Reply mail needs PARLOUR_PUBLIC_URL, the address readers reach Parlour at: "
            "post without asking for mail, or ask whoever runs Parlour to set it."
        )
    return base.rstrip("/")


def check_ready(ctx: Context) -> None:
    """Can this instance mail readers links at all? Checked before a post is written."""
    _public_url(ctx)


def ask(
    ctx: Context,
    tx: Tx,
    site: Site,
    thread: Thread,
    comment: Comment,
    email: str,
    kind: str,
    now: int,
    *,
    vouched: bool = False,
) -> str:
    """Record what the reader asked for, in the post's transaction; mail a confirmation
    if the address is not confirmed yet (at most one a day), unless `vouched`: the
    writer's site signed the reader in with it (single sign-on). Returns REQUESTED
    either way: whether an address was confirmed on the site is nobody else's business."""
    reader = store.reader_for(tx, site.id, email.lower(), now)
    if reader.unsubscribed_at is not None:  # asked for no more mail, and asks again now
        store.ask_again(tx, reader.id)
        reader = replace(reader, confirmed_at=None, unsubscribed_at=None, confirm_sent_at=None)
    store.subscribe(tx, reader.id, thread.id, comment.id if kind == "replies" else None, kind, now)
    if vouched and reader.confirmed_at is None:  # the writer's site signed this address in
        store.confirm(tx, reader.id, now)
        return REQUESTED
    if reader.confirmed_at is None and (
        reader.confirm_sent_at is None or now - reader.confirm_sent_at >= CONFIRM_EVERY_MS
    ):
        _send_confirmation(ctx, tx, site, reader, now)
    return REQUESTED


def _send_confirmation(ctx: Context, tx: Tx, site: Site, reader: MailReader, now: int) -> None:
    token = f"mc1.{reader.id}.{now}.{ctx.signer.sign('mail-confirm', f'{reader.id}:{now}')}"
    values = {"site": site, "link": f"{_public_url(ctx)}/mail/confirm?{urlencode({'token': token})}",
              "days": CONFIRM_DAYS}  # fmt: skip
    mail.enqueue(
        tx, ctx, reader.email, f"Confirm your address for replies on {one_line(site.name)}",
        _templates.get_template("confirm.txt").render(values),
        html=_templates.get_template("confirm.html").render(values),
        headers={"Auto-Submitted": "auto-generated"},
    )  # fmt: skip
    store.note_confirmation_sent(tx, reader.id, now)


@dataclass(frozen=True, slots=True)
class Confirmation:
    """What a confirmation link is for, shown on its page before the button."""

    token: str
    site_name: str
    email: str
    confirmed: bool


def _confirm_target(ctx: Context, tx: Tx, token: str) -> MailReader:
    parts = token.split(".") if isinstance(token, str) and token.isascii() else []
    if len(parts) != 4 or parts[0] != "mc1" or not (parts[1].isdigit() and parts[2].isdigit()):
        raise errors.InvalidMailLink()
    reader_id, sent_at = int(parts[1]), int(parts[2])
    if not hmac.compare_digest(parts[3], ctx.signer.sign("mail-confirm", f"{reader_id}:{sent_at}")):
        raise errors.InvalidMailLink()
    if ctx.now() - sent_at > CONFIRM_DAYS * 86_400_000:
        raise errors.InvalidMailLink(
            "This confirmation link has expired. Ask for replies again with your next comment."
        )
    reader = store.get_reader(tx, reader_id)
    # Only the latest link sent works: one mailed before the reader left the site (and
    # came back, which sends a new one) confirms nothing.
    if reader is None or reader.confirm_sent_at != sent_at or reader.unsubscribed_at is not None:
        raise errors.InvalidMailLink()
    return reader


def confirmation(ctx: Context, token: str) -> Confirmation:
    """The page a confirmation link opens (a GET: it changes nothing)."""
    with ctx.db.read() as tx:
        reader = _confirm_target(ctx, tx, token)
    site = ctx.sites.get(reader.site_id)
    return Confirmation(token, site.name if site else reader.site_id, reader.email, reader.receives)


def confirm(ctx: Context, token: str) -> Confirmation:
    """The button on that page: the address gets the mail it asked for from now on."""
    with ctx.db.write() as tx:
        reader = _confirm_target(ctx, tx, token)
        store.confirm(tx, reader.id, ctx.now())
    site = ctx.sites.get(reader.site_id)
    return Confirmation(token, site.name if site else reader.site_id, reader.email, True)


def leave_token(ctx: Context, reader_id: int, thread_id: int) -> str:
    """A link's token that stops mail for one conversation (or WHOLE_SITE)."""
    return f"mu1.{reader_id}.{thread_id}.{ctx.signer.sign('mail-leave', f'{reader_id}:{thread_id}')}"


@dataclass(frozen=True, slots=True)
class Leave:
    """What a leave link stops: mail for one conversation (`thread_title` set) or all
    mail from the site."""

    token: str
    site_name: str
    email: str
    whole_site: bool
    thread_title: str | None


def _leave_target(ctx: Context, tx: Tx, token: object) -> tuple[MailReader, Thread | None]:
    parts = token.split(".") if isinstance(token, str) and token.isascii() else []
    if len(parts) != 4 or parts[0] != "mu1" or not (parts[1].isdigit() and parts[2].isdigit()):
        raise errors.InvalidMailLink()
    reader_id, thread_id = int(parts[1]), int(parts[2])
    if not hmac.compare_digest(parts[3], ctx.signer.sign("mail-leave", f"{reader_id}:{thread_id}")):
        raise errors.InvalidMailLink()
    reader = store.get_reader(tx, reader_id)
    if reader is None:
        raise errors.InvalidMailLink()
    thread = None if thread_id == WHOLE_SITE else thread_store.get_thread_by_id(tx, thread_id)
    if thread_id != WHOLE_SITE and (thread is None or thread.site_id != reader.site_id):
        raise errors.InvalidMailLink()
    return reader, thread


def _leave(ctx: Context, token: str, reader: MailReader, thread: Thread | None) -> Leave:
    site = ctx.sites.get(reader.site_id)
    title = None if thread is None else (thread.title or thread.key)
    return Leave(token, site.name if site else reader.site_id, reader.email, thread is None, title)


def leaving(ctx: Context, token: str) -> Leave:
    """The page a leave link opens (a GET: it changes nothing)."""
    with ctx.db.read() as tx:
        reader, thread = _leave_target(ctx, tx, token)
    return _leave(ctx, token, reader, thread)


def leave(ctx: Context, token: str) -> Leave:
    """Stop the mail the token names; doing it twice is the same as once."""
    now = ctx.now()
    with ctx.db.write() as tx:
        reader, thread = _leave_target(ctx, tx, token)
        if thread is None:
            store.unsubscribe_site(tx, reader.id, now)
        else:
            store.end_thread(tx, reader.id, thread.id, now)
    return _leave(ctx, token, reader, thread)


class ReplyMail:
    """The consumer that mails readers the comments they asked to hear of."""

    name = "reply_mail"

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def handle(self, tx: Tx, batch: Sequence[Event]) -> None:
        shown = [e for e in batch if e.kind in SHOWN and e.comment_id is not None and e.thread_id is not None]
        watched = store.watched_threads(tx, {e.thread_id for e in shown if e.thread_id is not None})
        for event in shown:
            if event.thread_id not in watched or event.comment_id is None:
                continue
            comment = comment_store.get_comment(tx, event.comment_id)
            if comment is None or comment.status is not Status.PUBLISHED:
                continue  # removed (or held again) before its mail went out: never
            if event.kind == "posted" and comment.created_at < event.created_at - IMPORTED_MS:
                continue  # an imported comment: old news to everyone
            site = self._ctx.sites.get(event.site_id)
            thread = thread_store.get_thread_by_id(tx, comment.thread_id)
            if site is None or thread is None:
                continue
            found = {
                reader.id: (reader, kind)
                for reader, kind in store.recipients(tx, thread.id, comment.parent_id, event.created_at)
            }
            for reader in store.mentioned_readers(
                tx, thread.id, mentions.mentioned(comment.html), event.created_at
            ):
                found.setdefault(reader.id, (reader, "mention"))  # one mail a comment
            for reader, kind in found.values():
                if comment.author_email and comment.author_email.lower() == reader.email:
                    continue  # their own comment
                self._send(tx, site, thread, comment, reader, kind)

    def _send(
        self, tx: Tx, site: Site, thread: Thread, comment: Comment, reader: MailReader, kind: str
    ) -> None:
        ctx = self._ctx
        base = ctx.settings.public_url
        if not base:
            log.warning("No PARLOUR_PUBLIC_URL: no reply mail to %s (it needs leave links)", reader.email)
            return
        base = base.rstrip("/")
        author = site.writer_name if comment.is_writer else (comment.author_name or "Someone")
        title = thread.title or thread.key
        page = on_site(site, thread.url) or (
            f"{base}/comments.html?{urlencode({'site': site.id, 'thread': thread.key})}"
        )
        leave_thread = leave_token(ctx, reader.id, thread.id)
        leave_site = leave_token(ctx, reader.id, WHOLE_SITE)
        leave_site_url = f"{base}/mail/leave?{urlencode({'token': leave_site})}"
        values = {
            "site": site, "author": author, "title": title, "kind": kind, "comment": comment,
            "is_writer": comment.is_writer, "link": f"{page}#comment-{comment.id}",
            "leave_thread": f"{base}/mail/leave?{urlencode({'token': leave_thread})}",
            "leave_site": leave_site_url,
        }  # fmt: skip
        subject = {
            "replies": f"{one_line(author)} replied to you on “{one_line(title)}”",
            "mention": f"{one_line(author)} mentioned you on “{one_line(title)}”",
        }.get(kind, f"New comment from {one_line(author)} on “{one_line(title)}”")
        mail.enqueue(
            tx, ctx, reader.email, subject[:300],
            _templates.get_template("reply.txt").render(values),
            self._message_id(comment.id, reader.id),
            html=_templates.get_template("reply.html").render(values),
            headers=self._headers(site, thread, comment, reader, leave_site_url, leave_site),
        )  # fmt: skip

    def _domain(self) -> str:
        return mail.sender_domain(self._ctx.settings)

    def _message_id(self, comment_id: int, reader_id: int) -> str:
        """One per comment and reader: the mail about a reply answers the mail about its
        parent in the reader's mailbox (In-Reply-To), so the conversation threads."""
        instance = self._ctx.signer.sign("message-id", "", 6)
        return f"<parlour.{instance}.c{comment_id}.r{reader_id}@{self._domain()}>"

    def _headers(
        self, site: Site, thread: Thread, comment: Comment, reader: MailReader, leave_url: str, leave: str
    ) -> dict[str, str]:
        instance = self._ctx.signer.sign("message-id", "", 6)
        domain = self._domain()
        chain = [f"<parlour.{instance}.t{thread.id}.r{reader.id}@{domain}>"]  # the conversation's root
        for ancestor in dict.fromkeys(c for c in (comment.root_id, comment.parent_id) if c is not None):
            chain.append(self._message_id(ancestor, reader.id))
        _, sender = parseaddr(self._ctx.settings.mail_from)
        unsubscribe = f"<{leave_url}>"
        if sender:
            unsubscribe += f", <mailto:{sender}?subject={quote('unsubscribe ' + leave)}>"
        return {
            "In-Reply-To": chain[-1],
            "References": " ".join(chain),
            "List-Id": f"{_phrase(site.name)}<{site.id}.comments.{domain}>",  # RFC 2919
            "List-Unsubscribe": unsubscribe,
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        }


def one_line(text: str) -> str:
    """Text for a mail header: one line, runs of white space (line breaks included) as
    one space. A thread's title comes from its first commenter."""
    return " ".join(text.split())


def _phrase(text: str) -> str:
    """A List-Id description and its space: a quoted string of printable ASCII (RFC
    2919 has no room for encoded-words), or nothing."""
    printable = "".join(c for c in one_line(text) if " " <= c <= "~").strip()
    if not printable:
        return ""
    return '"' + printable.replace("\\", "\\\\").replace('"', '\\"') + '" '
