"""Atom feeds (RFC 4287) of a site's newest comments and of one thread's.

A feed shows what a thread page shows and nothing more: published comments only, each
with its rendered, sanitised `html` (never the Markdown source), its author's public
name (the writer's replies under her name and marked as hers), never an email or an
address. Readers' text is hostile: the document is built with ElementTree, which escapes
it, and characters XML 1.0 cannot carry at all (most C0 controls, U+FFFE, U+FFFF) are
dropped from every string first, so whatever is stored, the feed is well-formed.

Ids are tag URIs (RFC 4151): the host of PARLOUR_PUBLIC_URL (never the request's `Host`),
the day the site was created, and the site, thread or comment id, so they stay the same
from one request to the next. The `self` link is built from PARLOUR_PUBLIC_URL too, and
is left out while it is not set. Links to comments point at the writer's own page
(`#comment-ID`, the widget's permalinks), or at `/comments.html` for a thread whose page
is not known.

Feeds are cached per process like pages: a thread's under its version, a site's under the
thread directory's mark of the site. An unchanged feed costs no query, and its ETag lets
a feed reader's next request end in a 304.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

from parlour.domain import errors
from parlour.domain.model import Comment, Site, Thread
from parlour.services import reading, rules
from parlour.services.clock import iso
from parlour.services.context import Context, RenderedPage
from parlour.services.views import on_site
from parlour.store import comments as comment_store
from parlour.store import sites as site_store
from parlour.store import threads as thread_store

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

FEED_SIZE = 50  # entries in a feed: its newest comments
MEDIA_TYPE = "application/atom+xml; charset=utf-8"
ATOM = "http://www.w3.org/2005/Atom"
THREADING = "http://purl.org/syndication/thread/1.0"  # RFC 4685: which comment a reply answers
PLACEHOLDER_AUTHORITY = "parlour.invalid"  # ids' authority while PARLOUR_PUBLIC_URL is not set

# Everything XML 1.0 allows in a document (its production `Char`); the rest is dropped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True)
class FeedTarget:
    """A checked feed request: a site's feed, or (with `thread`) one thread's."""

    site: str
    thread: str | None


def feed_target(ctx: Context, site: str, thread: str | None) -> FeedTarget:
    """Check a feed's site id and its `thread` parameter (absent: the site's feed)."""
    if not rules.is_site_id(site):
        raise errors.UnknownSite(site)
    if thread is None:
        return FeedTarget(site, None)
    if not thread:
        raise errors.InvalidParameter("thread must name a thread, or be left out.", field="thread")
    return FeedTarget(site, rules.thread_key(thread, ctx.settings))


def feed_path(site: str, thread: str | None = None) -> str:
    """The feed's address on Parlour, from its root: `/feeds/SITE.atom[?thread=KEY]`."""
    return f"/feeds/{site}.atom" + ("?" + urlencode({"thread": thread}) if thread is not None else "")


async def feed(ctx: Context, target: FeedTarget) -> RenderedPage:
    """The feed as bytes with its ETag: from the cache, or built now (off the event loop)."""
    if target.thread is None:
        mark = ctx.threads.site_mark(target.site)
        if mark is None:  # the directory is not hearing of changes: nothing may be cached
            return await ctx.db.run(lambda: _render(ctx, target.site, None), heavy=True)
        key: tuple[object, ...] = ("feed", target.site, mark)
        thread_id = None
    else:
        thread = await reading.find_thread(ctx, target.site, target.thread)
        if thread is None:
            raise errors.UnknownThread(field="thread")
        key = ("feed", thread.id, thread.version)
        thread_id = thread.id
    cached = ctx.pages.get(key)
    if cached is not None:
        return cached
    return await ctx.db.run(
        lambda: ctx.pages.get_or_make(key, lambda: _render(ctx, target.site, thread_id)), heavy=True
    )


def _render(ctx: Context, site_id: str, thread_id: int | None) -> RenderedPage:
    with ctx.db.read() as tx:
        site = site_store.get_site(tx, site_id)
        if site is None:
            raise errors.UnknownSite(site_id)
        thread = None
        if thread_id is not None:
            thread = thread_store.get_thread_by_id(tx, thread_id)
            if thread is None:  # deleted since it was looked up
                raise errors.UnknownThread(field="thread")
        entries = comment_store.latest_published(tx, site.id, thread_id, FEED_SIZE)
        threads = thread_store.get_threads_by_id(tx, {comment.thread_id for comment, _ in entries})
    return RenderedPage.of(_atom(ctx.settings.public_url, site, thread, entries, threads))


def _atom(
    public_url: str,
    site: Site,
    thread: Thread | None,
    entries: Sequence[tuple[Comment, int]],
    threads: dict[int, Thread],
) -> bytes:
    # Imported here: a worker that never serves a feed never loads it (feedgen, which
    # would do the same with lxml, adds 4.4 MiB to a worker; see docs/architecture.md).
    from xml.etree.ElementTree import Element, SubElement, tostring

    base = public_url.rstrip("/")
    tag = f"tag:{urlsplit(base).hostname or PLACEHOLDER_AUTHORITY},{_day(site.created_at)}:{site.id}"

    def add(parent: Element, name: str, text: str | None = None, **attributes: str) -> Element:
        child = SubElement(parent, name, {k: _xml(v) for k, v in attributes.items()})
        if text is not None:
            child.text = _xml(text)
        return child

    # Namespaces declared by hand, so the Atom elements need no prefix (ElementTree's own
    # prefixes are registered process-wide).
    root = Element("feed", {"xmlns": ATOM, "xmlns:thr": THREADING})
    if thread is None:
        add(root, "id", tag)
        add(root, "title", f"Comments on {site.name}")
        page = next((origin + "/" for origin in site.origins), None)
    else:
        add(root, "id", f"{tag}/thread/{thread.id}")
        add(root, "title", f"Comments on {_title(thread)}")
        page = _page(base, site, thread)
    newest = max((max(at, comment.edited_at or 0) for comment, at in entries), default=None)
    add(root, "updated", _time(newest or (thread or site).created_at))
    if base:
        self_path = feed_path(site.id, thread.key if thread else None)
        add(root, "link", rel="self", type="application/atom+xml", href=base + self_path)
    if page:
        add(root, "link", rel="alternate", type="text/html", href=page)
    add(root, "generator", "Parlour")
    for comment, _ in entries:
        on = threads.get(comment.thread_id) or thread
        if on is None:
            continue  # its thread went in between the two queries
        where = _page(base, site, on)
        name = site.writer_name if comment.is_writer else comment.author_name or "Anonymous"
        entry = add(root, "entry")
        add(entry, "id", f"{tag}/comment/{comment.id}")
        add(entry, "title", f"{name}{' (author)' if comment.is_writer else ''} on {_title(on)}")
        add(entry, "published", _time(comment.created_at))
        add(entry, "updated", _time(comment.edited_at or comment.created_at))
        add(add(entry, "author"), "name", name)
        if comment.is_writer:
            add(entry, "category", term="writer", label="Author")
        if where:
            add(entry, "link", rel="alternate", type="text/html", href=f"{where}#comment-{comment.id}")
        if comment.parent_id is not None:
            reply_to = {"href": f"{where}#comment-{comment.parent_id}"} if where else {}
            add(entry, "thr:in-reply-to", ref=f"{tag}/comment/{comment.parent_id}", **reply_to)
        # Sanitised when it was posted (services/markup.py); escaped here as text.
        add(entry, "content", comment.html, type="html")
    document: bytes = tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def _page(base: str, site: Site, thread: Thread) -> str | None:
    """Where a thread's comments are read: the writer's page, or Parlour's own."""
    url = on_site(site, thread.url)
    if url:
        return url.split("#", 1)[0]
    if base:
        return base + "/comments.html?" + urlencode({"site": site.id, "thread": thread.key})
    return None


def _title(thread: Thread) -> str:
    return thread.title or thread.key


def _xml(text: str) -> str:
    return _NOT_XML.sub("", text)


def _time(ms: int) -> str:
    stamp = iso(ms)
    assert stamp is not None
    return stamp


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()
