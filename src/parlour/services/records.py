"""The desk's look-ups: posts with their counts, search over every comment, a reader's page."""

from __future__ import annotations

from dataclasses import dataclass

from parlour.domain import errors
from parlour.domain.model import Status, User
from parlour.services import accounts
from parlour.services.context import Context
from parlour.store import audit
from parlour.store import search as store
from parlour.store.search import Found, Post


def posts(ctx: Context, user: User) -> list[Post]:
    with ctx.db.read() as tx:
        return store.list_posts(tx, list(accounts.roles(ctx, user)))


def search(
    ctx: Context,
    user: User,
    words: str,
    site_id: str | None = None,
    thread_key: str | None = None,
    author_key: str | None = None,
    status: str | None = None,
) -> list[Found]:
    """Comments on the user's sites with all these words (any, without words), filtered."""
    if len(words) > 200:
        raise errors.InvalidInput("Search for at most 200 characters.", field="q")
    words = "".join(c if c.isprintable() else " " for c in words)  # no NULs for FTS5
    sites = list(accounts.roles(ctx, user))
    if site_id:
        accounts.require_site(ctx, user, site_id)
        sites = [site_id]
    try:
        status_ = Status(status) if status else None
    except ValueError:
        raise errors.InvalidInput("Unknown status.", field="status") from None
    with ctx.db.read() as tx:
        return store.search_comments(
            tx, sites, words, thread_key=thread_key or None, author_key=author_key or None, status=status_
        )


@dataclass(frozen=True, slots=True)
class Reader:
    key: str
    name: str | None
    comments: list[Found]
    history: list[audit.Entry]


def reader(ctx: Context, user: User, author_key: str) -> Reader:
    """One reader's comments on the user's sites (every status) and what moderators did to them."""
    sites = list(accounts.roles(ctx, user))
    with ctx.db.read() as tx:
        found = store.search_comments(tx, sites, "", author_key=author_key, limit=500)
        history = audit.list_entries(tx, sites, 500, comment_ids=[c.id for c in found])
    if not found:
        raise errors.NotPermitted("You do not have access to that.")
    names = [c.author_name for c in found if c.author_name]
    return Reader(author_key, names[0] if names else None, found, history)
