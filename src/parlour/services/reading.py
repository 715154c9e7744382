"""Reading threads: pages of top-level comments with their replies nested, and counts.

This is the hot path. A page is rendered to JSON bytes once and cached per process,
keyed by the thread's version, which every write bumps. The thread's id, version and
count come from the thread directory (services/directory.py), which every process keeps
true by hearing of every change; a cached read therefore costs two dictionary look-ups
and no query, and stays correct across processes and databases.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from parlour.domain import errors
from parlour.domain.model import MAX_ID, Comment, Site, Sort, Status, Thread
from parlour.services import rules
from parlour.services.context import Context, RenderedPage
from parlour.services.views import comment_on, public_thread
from parlour.store import Tx
from parlour.store import comments as store
from parlour.store import sites as site_store
from parlour.store import threads as thread_store

MAX_COUNT_THREADS = 100
MAX_NEST = 32  # levels of nesting in a page; deeper replies list under their ancestor there
PERMALINK_MAX_TOPS = 2000


@dataclass(frozen=True, slots=True)
class PageQuery:
    """A checked request for one page of a thread.

    With `root` set, the page is the next replies under that top-level comment rather
    than top-level comments. With `until` set (a permalink), the page runs on past
    `limit` until it holds that comment's conversation down to that comment.
    """

    site: str
    thread: str
    sort: Sort
    limit: int
    replies_limit: int
    after: tuple[int, ...] | None
    root: int | None
    cursor: str | None
    until: int | None = None


def page_query(
    ctx: Context,
    site: str | None,
    thread: str | None,
    sort: str | None = None,
    limit: str | None = None,
    replies_limit: str | None = None,
    cursor: str | None = None,
    root: str | None = None,
    until: str | None = None,
) -> PageQuery:
    """Check the query parameters of a page request; raises a ParlourError naming the bad one."""
    settings = ctx.settings
    site = _site_param(site)
    if not thread:
        raise errors.InvalidParameter("The thread parameter is required.", field="thread")
    key = rules.thread_key(thread, settings)
    try:
        sort_ = Sort(sort or Sort.OLDEST)
    except ValueError:
        raise errors.InvalidParameter("sort must be oldest, newest or top.", field="sort") from None
    limit_ = _int(limit, "limit", settings.page_size, settings.page_max)
    replies_ = _int(replies_limit, "replies_limit", settings.replies_size, settings.replies_max)
    root_ = None if root is None else _int(root, "root", 0, MAX_ID)
    until_ = None if until is None or root_ is not None else _int(until, "until", 0, MAX_ID)
    after = None
    if cursor:
        after = _decode_cursor(cursor, sort_, root_)
    return PageQuery(site, key, sort_, limit_, replies_, after, root_, cursor or None, until_)


def _site_param(site: str | None) -> str:
    if not site:
        raise errors.InvalidParameter("The site parameter is required.", field="site")
    if not rules.is_site_id(site):
        raise errors.UnknownSite(site)
    return site


def _int(raw: str | None, field: str, default: int, maximum: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise errors.InvalidParameter(f"{field} must be a whole number.", field=field) from None
    if not 1 <= value <= maximum:
        raise errors.InvalidParameter(
            f"{field} must be between 1 and {maximum}.", field=field, maximum=maximum
        )
    return value


def _encode_cursor(sort: Sort | None, key: Sequence[int], root: int | None) -> str:
    """An opaque cursor: the keyset of the last item sent. Reply pages ignore `sort`."""
    data = orjson.dumps({"s": sort.value if root is None and sort else "replies", "k": list(key), "r": root})
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode_cursor(cursor: str, sort: Sort, root: int | None) -> tuple[int, ...]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        key = data["k"]
        ok = (
            isinstance(data, dict)
            and data.get("s") == (sort.value if root is None else "replies")
            and data.get("r") == root
            and isinstance(key, list)
            and all(type(k) is int and 0 <= k <= MAX_ID for k in key)
            and len(key) == (1 if root is not None else 3 if sort is Sort.TOP else 2)
        )
    except (ValueError, TypeError, KeyError, binascii.Error, orjson.JSONDecodeError):
        ok = False
    if not ok:
        raise errors.InvalidCursor(field="cursor")
    return tuple(key)


async def locate(ctx: Context, query: PageQuery) -> Thread | None:
    """The thread a page belongs to (None for a page nobody has commented on yet)."""
    found = await _threads(ctx, query.site, [query.thread])
    return found[query.thread]


async def find_thread(ctx: Context, site: str, key: str) -> Thread | None:
    """A checked thread key's thread (None: nobody has commented there yet); raises
    `unknown_site` for a site that does not exist."""
    found = await _threads(ctx, site, [key])
    return found[key]


async def _threads(ctx: Context, site: str, keys: Sequence[str]) -> dict[str, Thread | None]:
    """These threads of a site, from the thread directory when it knows them all (no
    query), else from the database (inline on SQLite, off the event loop on PostgreSQL)."""
    found = ctx.threads.cached(site, keys)
    if isinstance(found, dict):
        return found
    exists, loaded = await ctx.db.run(lambda: ctx.threads.load(site, keys))
    if not exists:
        raise errors.UnknownSite(site)
    return loaded


def cached_page(ctx: Context, thread: Thread | None, query: PageQuery) -> RenderedPage | None:
    if thread is None:
        return None
    return ctx.pages.get((thread.id, thread.version, query))


def render_page(ctx: Context, thread: Thread | None, query: PageQuery) -> RenderedPage:
    """The page as JSON bytes, stored in the cache under the version it was asked for."""
    if thread is None:
        return RenderedPage.of(orjson.dumps(build_page(ctx, thread, query)))
    return ctx.pages.get_or_make(
        (thread.id, thread.version, query),
        lambda: RenderedPage.of(orjson.dumps(build_page(ctx, thread, query))),
    )


def build_page(ctx: Context, thread: Thread | None, query: PageQuery) -> dict[str, Any]:
    if thread is None:
        thread_shape = public_thread(query.site, query.thread, None, ctx.sites.get(query.site))
        return {"thread": thread_shape, "comments": [], "next_cursor": None}
    with ctx.db.read() as tx:
        site = site_store.get_site(tx, thread.site_id)
        fresh = thread_store.get_thread_by_id(tx, thread.id)
        if site is None or fresh is None:  # deleted in between
            return build_page(ctx, None, query)
        extended: dict[int, int] = {}
        if query.root is not None:
            comments, next_cursor = _reply_page(tx, fresh.id, query)
        else:
            comments, next_cursor = _top_page(tx, fresh.id, query, extended)
    return {
        "thread": public_thread(site.id, fresh.key, fresh, site),
        "comments": _nest(
            comments,
            site,
            query.replies_limit if query.root is None else None,
            complete=query.root is None or next_cursor is None,
            extended=extended,
        ),
        "next_cursor": next_cursor,
    }


def _top_page(
    tx: Tx, thread_id: int, query: PageQuery, extended: dict[int, int]
) -> tuple[list[Comment], str | None]:
    """A page of top-level comments with their first replies.

    For a permalink (`until`), pages are added until the target's conversation is in,
    and that conversation keeps enough replies to reach the target (`extended`: root id
    -> replies kept). A target that is not a shown comment of this thread is ignored.
    """
    target = _permalink_target(tx, thread_id, query.until)
    root_id = None if target is None else (target.root_id or target.id)
    tops: list[Comment] = []
    after = query.after
    while True:
        chunk = store.list_top_level(tx, thread_id, query.sort, after, query.limit + 1)
        more = len(chunk) > query.limit
        tops += chunk[: query.limit]
        if not more or root_id is None or any(c.id == root_id for c in chunk[: query.limit]):
            break
        if len(tops) >= PERMALINK_MAX_TOPS:  # a bound on what one request may build
            break
        after = store.sort_key(query.sort, tops[-1])
    next_cursor = _encode_cursor(query.sort, store.sort_key(query.sort, tops[-1]), None) if more else None
    replies = store.list_replies(tx, [c.id for c in tops], query.replies_limit)
    if target is not None and target.root_id is not None:
        needed = store.count_replies_through(tx, target.root_id, target.id)
        if needed > query.replies_limit and any(c.id == target.root_id for c in tops):
            replies = [c for c in replies if c.root_id != target.root_id]
            replies += store.list_replies(tx, [target.root_id], needed)
            extended[target.root_id] = needed
    return tops + replies, next_cursor


def _permalink_target(tx: Tx, thread_id: int, comment_id: int | None) -> Comment | None:
    if comment_id is None:
        return None
    target = store.get_comment(tx, comment_id)
    if (
        target is None
        or target.thread_id != thread_id
        or target.status not in (Status.PUBLISHED, Status.REMOVED)
    ):
        return None
    root = target if target.root_id is None else store.get_comment(tx, target.root_id)
    if root is None or (root.status is Status.REMOVED and root.reply_count == 0):
        return None  # a removed conversation with nothing left in it is in no page
    return target


def _reply_page(tx: Tx, thread_id: int, query: PageQuery) -> tuple[list[Comment], str | None]:
    assert query.root is not None
    root = store.get_comment(tx, query.root)
    if root is None or root.thread_id != thread_id or root.parent_id is not None:
        raise errors.UnknownComment("root must be a top-level comment of this thread.", field="root")
    after = query.after[0] if query.after else None
    replies = store.list_replies(tx, [root.id], query.limit, after)
    next_cursor = None
    if len(replies) > query.limit:
        replies = replies[: query.limit]
        next_cursor = _encode_cursor(query.sort, (replies[-1].id,), root.id)
    return replies, next_cursor


def _nest(
    comments: list[Comment],
    site: Site,
    replies_limit: int | None,
    complete: bool = True,
    extended: dict[int, int] | None = None,
) -> list[dict[str, Any]]:
    """Build the tree. Comments whose parent is not in the list stay at the top level
    (top-level comments, or the first replies of a reply page, which carry `parent_id`).

    A chain of replies nests at most MAX_NEST levels: deeper replies are listed, in
    order, among the replies of their ancestor at that level (each keeps its true
    `parent_id`), so a chain thousands deep stays a shallow document (JSON encoders and
    templates have recursion limits; the widget shows such replies flat anyway).

    With `replies_limit`, each top-level comment keeps its first replies and, when there
    are more, a `replies_cursor` for the rest (`?root=ID&cursor=...`); `extended` raises
    that limit for some roots (a permalink's conversation).

    Removed comments with nothing published under them are dropped, but only from a
    conversation sent whole (`complete`, and no `replies_cursor`): in a truncated one
    the published replies may still come on a later page, and need their parent.
    """
    nodes: dict[int, dict[str, Any]] = {}
    level: dict[int, int] = {}  # how deep each node sits in the document
    holder: dict[int, int] = {}  # where a node's replies go: itself, or its ancestor at MAX_NEST
    published: dict[int, bool] = {}
    out: list[dict[str, Any]] = []
    shown: dict[int, tuple[int, int]] = {}  # root id -> (replies kept, id of the last kept)
    more: set[int] = set()
    for c in comments:
        if replies_limit is not None and c.root_id is not None:
            count, _ = shown.get(c.root_id, (0, 0))
            if count >= (extended or {}).get(c.root_id, replies_limit):
                more.add(c.root_id)
                continue
            shown[c.root_id] = (count + 1, c.id)
        node = comment_on(c, site)
        nodes[c.id] = node
        published[c.id] = c.status is Status.PUBLISHED
        parent_id = holder.get(c.parent_id) if c.parent_id is not None else None
        if parent_id is not None:
            nodes[parent_id]["replies"].append(node)
            level[c.id] = level[parent_id] + 1
        else:
            out.append(node)
            level[c.id] = 0
        if level[c.id] < MAX_NEST:
            holder[c.id] = c.id
        elif parent_id is not None:
            holder[c.id] = parent_id
    if replies_limit is not None:
        for node in out:
            rid = node["id"]
            node["replies_cursor"] = _encode_cursor(None, (shown[rid][1],), rid) if rid in more else None
    return [n for n in out if not complete or n["id"] in more or _keep(n, published)]


def _keep(top: dict[str, Any], published: dict[int, bool]) -> bool:
    """Drop removed comments with nothing published under them, at any depth.

    "Under" follows the true `parent_id`, not the document (past MAX_NEST, replies sit
    beside their parents), and it is a loop, not recursion: chains may be thousands deep.
    """
    nodes: list[dict[str, Any]] = []
    stack = [top]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack.extend(node["replies"])
    alive = {node["id"]: published[node["id"]] for node in nodes}
    for node in sorted(nodes, key=lambda n: n["id"], reverse=True):  # a reply is newer than its parent
        if alive[node["id"]] and node["parent_id"] in alive:
            alive[node["parent_id"]] = True
    for node in nodes:
        node["replies"] = [r for r in node["replies"] if alive[r["id"]]]
    return alive[top["id"]]


async def events_target(ctx: Context, site: str | None, thread: str | None) -> tuple[str, str]:
    """Check a request for a thread's live events: (site id, thread key)."""
    site = _site_param(site)
    if not thread:
        raise errors.InvalidParameter("The thread parameter is required.", field="thread")
    key = rules.thread_key(thread, ctx.settings)
    await _threads(ctx, site, [key])  # raises for an unknown site
    return site, key


def events_after(after: str | None) -> int | None:
    """The `after` parameter of the event stream: the newest comment id a page has (0 for
    a page that had none); None when not given."""
    if after is None:
        return None
    if after == "0":
        return 0
    return _int(after, "after", 0, MAX_ID)


async def counts(ctx: Context, site: str | None, keys: Sequence[str]) -> dict[str, int]:
    """Published comments per thread key; unknown keys count 0."""
    site = _site_param(site)
    if not keys:
        raise errors.InvalidParameter("Name at least one thread.", field="thread")
    if len(keys) > MAX_COUNT_THREADS:
        raise errors.InvalidParameter(f"Ask for at most {MAX_COUNT_THREADS} threads at once.", field="thread")
    checked = [rules.thread_key(k, ctx.settings) for k in keys]
    found = await _threads(ctx, site, list(dict.fromkeys(checked)))
    return {key: 0 if (thread := found[key]) is None else thread.comment_count for key in checked}
