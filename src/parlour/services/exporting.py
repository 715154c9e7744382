"""`parlour export`: a site's comments and everything around them, written as they are read.

Two formats. Parlour's own (docs/export-format.md) is JSON Lines and loses nothing that
belongs to the site: `parlour import parlour` restores it, and exporting the restored
site again gives the same bytes. Disqus's XML export is for moving to a system that
reads Disqus files. Both read the database a batch at a time inside one snapshot, so
memory does not grow with the site, and neither writes anything but the file (and, once
per database, the prefix of its export ids).

Never exported: the instance's secret, passwords, tokens of any kind, the site's single
sign-on secret, webhooks (each is its signing secret), desk accounts.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import orjson

from parlour.domain import errors
from parlour.domain.model import Site, Status
from parlour.services.clock import iso
from parlour.services.context import Context
from parlour.store import IntegrityError, Tx
from parlour.store import exports as store
from parlour.store import sites as site_store

FORMAT = "parlour"
VERSION = 1
BATCH = 500  # rows read at a time
PREFIX_META_KEY = "export_prefix"
_PREFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"

Write = Callable[[bytes], object]


def export_prefix(ctx: Context) -> str:
    """This database's prefix for the export ids of comments made here: random, made on
    the first export and kept (so every export of this database names a comment alike).
    Letters and digits only: never a `format:` source, never another database's."""
    with ctx.db.read() as tx:
        found = site_store.get_meta(tx, PREFIX_META_KEY)
    if found:
        return found
    made = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(12))
    try:
        with ctx.db.write() as tx:
            site_store.set_meta(tx, PREFIX_META_KEY, made)
    except IntegrityError:  # another export made it first: theirs it is
        pass
    with ctx.db.read() as tx:
        stored = site_store.get_meta(tx, PREFIX_META_KEY)
    assert stored
    return stored


def _site(tx: Tx, site_id: str) -> Site:
    site = site_store.get_site(tx, site_id)
    if site is None:
        raise errors.UnknownSite(site_id=site_id)
    return site


# -- Parlour's own format ---------------------------------------------------------------


def _line(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)


def parlour(ctx: Context, site_id: str, write: Write) -> int:
    """Write the site in Parlour's format; the number of lines written."""
    prefix = export_prefix(ctx)
    count = 0
    with store.snapshot(ctx.db) as tx:
        site = _site(tx, site_id)
        write(_line({"format": FORMAT, "version": VERSION, "site": site.id}))
        for record in _records(tx, site, prefix):
            write(_line(record))
            count += 1
        write(_line({"type": "end", "records": count}))
    return count + 2


def _records(tx: Tx, site: Site, prefix: str) -> Iterator[dict[str, Any]]:
    yield _site_record(site)
    yield from _threads_and_comments(tx, site, prefix)
    yield from _accounts(tx, site)
    yield from _site_readers(tx, site)
    yield from _mail_readers(tx, site, prefix)
    yield from _blocks(tx, site)


def _site_record(site: Site) -> dict[str, Any]:
    return {
        "type": "site", "name": site.name, "writer_name": site.writer_name, "origins": sorted(site.origins),
        "created_at": iso(site.created_at), "moderation": site.moderation.value,
        "held_words": list(site.held_words), "rejected_words": list(site.rejected_words),
        "max_links": site.max_links, "close_after_days": site.close_after_days, "edit_window": site.edit_window,
        "writer_heart": site.writer_heart, "writer_avatar": site.writer_avatar,
        "writer_mail": site.writer_mail.value, "unanswered_mail": site.unanswered_mail,
        "who_may_comment": site.who_may_comment.value,
    }  # fmt: skip


def _threads(tx: Tx, site_id: str) -> Iterator[Any]:
    last: str | None = None
    while batch := store.threads_after(tx, site_id, last, BATCH):
        yield from batch
        last = batch[-1].key


def _comments(tx: Tx, thread_id: int, prefix: str) -> Iterator[list[Any]]:
    last: tuple[int, str] | None = None
    while batch := store.comments_after(tx, thread_id, prefix, last, BATCH):
        yield batch
        last = (batch[-1].created_at, batch[-1].export_id)


def _threads_and_comments(tx: Tx, site: Site, prefix: str) -> Iterator[dict[str, Any]]:
    for thread in _threads(tx, site.id):
        yield {
            "type": "thread", "key": thread.key, "title": thread.title, "url": thread.url,
            "locked": bool(thread.locked), "who_may_comment": thread.who_may_comment,
            "created_at": iso(thread.created_at),
        }  # fmt: skip
        for batch in _comments(tx, thread.id, prefix):
            hearted = store.hearts_of(tx, [c.id for c in batch])
            accounts = store.account_emails(tx, [_account_id(c.author_key) or 0 for c in batch])
            for c in batch:
                yield _comment_record(site, thread.key, c, hearted.get(c.id, []), accounts)


def _account_id(author_key: str) -> int | None:
    """The account id in a reader account's author key (`u:ID`), else None."""
    if author_key.startswith("u:") and author_key[2:].isdigit():
        return int(author_key[2:])
    return None


def author_key_out(site: Site, key: str, accounts: dict[int, str]) -> str:
    """An author key as the export writes it: without what only means something in this
    database (the site's id in the writer's key, a reader account's row id)."""
    if key == f"w:{site.id}":
        return "writer"
    account = _account_id(key)
    if account is not None and account in accounts:
        return f"account:{accounts[account]}"
    return key


def _comment_record(
    site: Site, thread_key: str, c: Any, hearted: list[tuple[str, int]], accounts: dict[int, str]
) -> dict[str, Any]:
    return {
        "type": "comment", "id": c.export_id, "thread": thread_key, "parent": c.parent_export_id,
        "author_name": c.author_name, "author_email": c.author_email,
        "author_key": author_key_out(site, c.author_key, accounts), "author_verified": bool(c.author_verified),
        "ip_hash": c.ip_hash, "is_writer": bool(c.is_writer), "body": c.body, "status": c.status,
        "pinned": bool(c.pinned), "hearts": c.hearts, "liked_by_writer": bool(c.liked_by_writer),
        "hearted_by": [{"reader": reader, "at": iso(at)} for reader, at in hearted],
        "inbox_done": bool(c.inbox_done), "created_at": iso(c.created_at), "published_at": iso(c.published_at),
        "edited_at": iso(c.edited_at),
    }  # fmt: skip


def _accounts(tx: Tx, site: Site) -> Iterator[dict[str, Any]]:
    last: str | None = None
    while batch := store.accounts_after(tx, site.id, last, BATCH):
        for a in batch:
            yield {
                "type": "reader_account",
                "email": a.email,
                "name": a.name,
                "created_at": iso(a.created_at),
            }
        last = batch[-1].email


def _site_readers(tx: Tx, site: Site) -> Iterator[dict[str, Any]]:
    last: str | None = None
    while batch := store.site_readers_after(tx, site.id, last, BATCH):
        accounts = store.account_emails(
            tx,
            [
                int(r.subject[8:])
                for r in batch
                if r.subject.startswith("account:") and r.subject[8:].isdigit()
            ],
        )
        for r in batch:
            subject = r.subject
            if subject.startswith("account:") and subject[8:].isdigit() and int(subject[8:]) in accounts:
                subject = f"account:{accounts[int(subject[8:])]}"
            yield {
                "type": "site_reader", "subject": subject, "name": r.name, "email": r.email,
                "picture": r.picture, "tier": r.tier, "created_at": iso(r.created_at), "seen_at": iso(r.seen_at),
            }  # fmt: skip
        last = batch[-1].subject


def _mail_readers(tx: Tx, site: Site, prefix: str) -> Iterator[dict[str, Any]]:
    last: str | None = None
    while batch := store.mail_readers_after(tx, site.id, last, BATCH):
        asked = store.subscriptions_of(tx, [r.id for r in batch], prefix)
        for r in batch:
            subscriptions = [
                {"thread": key, "comment": comment, "kind": kind, "created_at": created, "ended_at": ended}
                for key, comment, kind, created, ended in asked.get(r.id, [])
            ]
            subscriptions.sort(
                key=lambda s: (
                    s["created_at"],
                    s["thread"],
                    s["comment"] or "",
                    s["kind"],
                    s["ended_at"] or 0,
                )
            )
            yield {
                "type": "mail_reader", "email": r.email, "created_at": iso(r.created_at),
                "confirm_sent_at": iso(r.confirm_sent_at), "confirmed_at": iso(r.confirmed_at),
                "unsubscribed_at": iso(r.unsubscribed_at),
                "subscriptions": [{**s, "created_at": iso(s["created_at"]), "ended_at": iso(s["ended_at"])} for s in subscriptions],
            }  # fmt: skip
        last = batch[-1].email


def _blocks(tx: Tx, site: Site) -> Iterator[dict[str, Any]]:
    rows = sorted(
        store.site_blocks(tx, site.id),
        key=lambda b: (b.created_at, b.kind, b.value, b.reason, b.expires_at or 0),
    )
    for b in rows:
        yield {
            "type": "block", "kind": b.kind, "value": b.value, "reason": b.reason,
            "expires_at": iso(b.expires_at), "created_at": iso(b.created_at),
        }  # fmt: skip


# -- Disqus XML -------------------------------------------------------------------------

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xsi:schemaLocation="http://disqus.com/api/schemas/1.0/disqus.xsd '
    'http://disqus.com/api/schemas/1.0/disqus-internals.xsd">\n'
)


def _text(value: str | None) -> str:
    """Text for an element: characters XML 1.0 cannot carry dropped, the rest escaped."""
    return escape(_NOT_XML.sub("", value or ""))


def _attr(value: str) -> str:
    return quoteattr(_NOT_XML.sub("", value))


def _cdata(value: str) -> str:
    """A CDATA section holding `value` exactly (a `]]>` inside splits it in two)."""
    return "<![CDATA[" + _NOT_XML.sub("", value).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _disqus_time(ms: int) -> str:
    """Disqus's createdAt: RFC 3339 to the second, UTC (readers parse exactly this)."""
    return str(iso(ms))[:19] + "Z"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _link(site: Site, key: str, url: str | None) -> str:
    """The page's address: the thread's own, else its key on the site's first origin."""
    if url:
        return url
    if key.startswith("/") and site.origins:
        return sorted(site.origins)[0] + key
    return key


def disqus(ctx: Context, site_id: str, write: Write) -> int:
    """Write the site as a Disqus XML export; the number of comments written.

    Threads first, then every comment (posts name their thread and parent by `dsq:id`,
    the row ids here). Every comment not shown here is written deleted (removed, held,
    rejected, spam: so that no system shows what this one does not), spam marked spam
    too. Every author is a guest (`isAnonymous`): Disqus accounts are not Parlour's.
    """
    posts = 0
    with store.snapshot(ctx.db) as tx:
        site = _site(tx, site_id)
        forum = _text(site.id)
        write(_HEAD.encode())
        write(
            f'  <category dsq:id="1">\n    <forum>{forum}</forum>\n    <title>General</title>\n'
            "    <isDefault>true</isDefault>\n  </category>\n".encode()
        )
        for t in _threads(tx, site.id):
            write(
                f"  <thread dsq:id={_attr(str(t.id))}>\n    <id>{_text(t.key)}</id>\n    <forum>{forum}</forum>\n"
                f'    <category dsq:id="1"/>\n    <link>{_text(_link(site, t.key, t.url))}</link>\n'
                f"    <title>{_text(t.title or t.key)}</title>\n    <message/>\n"
                f"    <createdAt>{_disqus_time(t.created_at)}</createdAt>\n"
                f"    <author>\n      <name>{_text(site.writer_name)}</name>\n      <isAnonymous>false</isAnonymous>\n"
                f"    </author>\n    <isClosed>{_bool(bool(t.locked))}</isClosed>\n    <isDeleted>false</isDeleted>\n"
                "  </thread>\n".encode()
            )
        for t in _threads(tx, site.id):
            for batch in _comments(tx, t.id, "x"):
                for c in batch:
                    write(_post(site, t.id, c).encode())
                    posts += 1
        write(b"</disqus>\n")
    return posts


def _post(site: Site, thread_id: int, c: Any) -> str:
    status = Status(c.status)
    name = c.author_name or (site.writer_name if c.is_writer else "")
    email = f"      <email>{_text(c.author_email)}</email>\n" if c.author_email else ""
    parent = f"    <parent dsq:id={_attr(str(c.parent_id))}/>\n" if c.parent_id is not None else ""
    return (
        f"  <post dsq:id={_attr(str(c.id))}>\n    <id/>\n    <message>{_cdata(c.html)}</message>\n"
        f"    <createdAt>{_disqus_time(c.created_at)}</createdAt>\n"
        f"    <isDeleted>{_bool(status is not Status.PUBLISHED)}</isDeleted>\n"
        f"    <isSpam>{_bool(status is Status.SPAM)}</isSpam>\n"
        f"    <author>\n{email}      <name>{_text(name)}</name>\n"
        "      <isAnonymous>true</isAnonymous>\n    </author>\n"
        f"    <thread dsq:id={_attr(str(thread_id))}/>\n{parent}  </post>\n"
    )
